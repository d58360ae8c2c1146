//! STS: AssumeRole into other accounts and what the issued credentials can do.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn assumed_role_credentials_act_in_the_role_account() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    let me = c.sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("123456789012"));

    let out = c
        .sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/Operator"))
        .role_session_name("e2e")
        .send()
        .await
        .unwrap();
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Operator/e2e")
    );
    let err = c
        .sts
        .assume_role()
        .role_arn("not-an-arn")
        .role_session_name("e2e")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationError"));

    let other = sdk_config(
        &emu,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().into()),
    )
    .await;
    let other_sts = aws_sdk_sts::Client::new(&other);
    let who = other_sts.get_caller_identity().send().await.unwrap();
    assert_eq!(who.account(), Some(OTHER_ACCOUNT));
    let other_sm = aws_sdk_sagemaker::Client::new(&other);
    let created = create_domain(&other_sm, "studio").send().await.unwrap();
    assert!(
        created
            .domain_arn()
            .unwrap()
            .contains(&format!(":{OTHER_ACCOUNT}:domain/"))
    );
    // Same name in the default account: separate namespaces.
    create_domain(&c.sm, "studio").send().await.unwrap();
    assert_eq!(c.sm.list_domains().send().await.unwrap().domains().len(), 1);
    assert_eq!(other_sm.list_domains().send().await.unwrap().domains().len(), 1);
    let err =
        c.sm.describe_domain()
            .domain_id(created.domain_id().unwrap())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
    let accounts: Vec<String> = emu.domains().into_iter().map(|d| d.account).collect();
    assert!(accounts.contains(&OTHER_ACCOUNT.to_string()) && accounts.contains(&"123456789012".to_string()));
}
