//! STS: AssumeRole into other accounts and what the issued credentials can do.

use aws_emulator::RoleTrust;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sts::types::Tag as SessionTag;

use super::*;

fn session_tag(key: &str, value: &str) -> SessionTag {
    SessionTag::builder().key(key).value(value).build().unwrap()
}

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

#[tokio::test]
async fn trust_conditions_external_id_and_session_tags() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let role = format!("arn:aws:iam::{OTHER_ACCOUNT}:role/Operator");
    emu.set_role_trust(RoleTrust {
        role_arn: role.clone(),
        external_id: Some("tenant-42".into()),
        required_session_tags: vec!["team".into()],
    })
    .unwrap();
    assert_eq!(emu.role_trusts().len(), 1);

    let assume = || c.sts.assume_role().role_arn(&role).role_session_name("operator");
    let denied = format!(
        "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: sts:AssumeRole on resource: {role}"
    );
    for attempt in [
        assume(),
        assume().external_id("tenant-43").tags(session_tag("team", "ml")),
        assume().external_id("tenant-42"),
    ] {
        let err = attempt.send().await.unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
        let err = err.into_service_error();
        assert_eq!(err.code(), Some("AccessDenied"));
        assert_eq!(err.message(), Some(denied.as_str()));
    }

    let out = assume()
        .external_id("tenant-42")
        .tags(session_tag("team", "ml"))
        .tags(session_tag("project", "studio"))
        .transitive_tag_keys("team")
        .source_identity("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(out.source_identity(), Some("alice"));
    let record = emu.calls().into_iter().rfind(|r| r.operation == "AssumeRole").unwrap();
    assert_eq!(record.outcome, "ok");
    assert_eq!(record.members["ExternalId"], "tenant-42");
    assert_eq!(record.members["RoleSessionName"], "operator");
    assert_eq!(
        record.members["Tags"],
        serde_json::json!([{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "studio"}])
    );
    assert_eq!(record.members["TransitiveTagKeys"], serde_json::json!(["team"]));
    let refused = emu.calls().into_iter().filter(|r| r.outcome == "AccessDenied").count();
    assert_eq!(refused, 3);

    // Calls made with the session's credentials are attributed to the session.
    let creds = out.credentials().unwrap();
    let session = sdk_config(
        &emu,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().into()),
    )
    .await;
    emu.clear_calls();
    aws_sdk_sagemaker::Client::new(&session)
        .list_domains()
        .send()
        .await
        .unwrap();
    let call = &emu.calls()[0];
    assert_eq!(
        call.principal,
        format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Operator/operator")
    );
    let tags: Vec<(&str, &str)> = call
        .session_tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(tags, [("team", "ml"), ("project", "studio")]);

    // Role chaining: only the transitive tag passes into the next session.
    let chained = aws_sdk_sts::Client::new(&session)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/Reader"))
        .role_session_name("chained")
        .send()
        .await
        .unwrap();
    let creds = chained.credentials().unwrap();
    let reader = sdk_config(
        &emu,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().into()),
    )
    .await;
    emu.clear_calls();
    aws_sdk_sts::Client::new(&reader)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let call = &emu.calls()[0];
    assert_eq!(
        call.principal,
        format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Reader/chained")
    );
    assert_eq!(call.session_tags.len(), 1);
    assert_eq!(call.session_tags[0].key, "team");

    // Without conditions any caller may assume the role again.
    emu.clear_role_trusts();
    assume().send().await.unwrap();
}

#[tokio::test]
async fn assume_role_validation_follows_the_sts_model() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let role = format!("arn:aws:iam::{OTHER_ACCOUNT}:role/Operator");
    let assume = || c.sts.assume_role().role_arn(&role).role_session_name("operator");

    let err = c
        .sts
        .assume_role()
        .role_arn(&role)
        .role_session_name("x")
        .external_id("a")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    let message = err.message().unwrap();
    assert!(message.starts_with("2 validation errors detected: "), "{message}");
    assert!(message.contains(
        "at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
    ));
    assert!(
        message.contains(
            "at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2"
        )
    );

    let err = assume()
        .external_id("tenant 42")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message()
            .unwrap()
            .contains("Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*"),
        "{:?}",
        err.message()
    );
    let mut many = assume();
    for i in 0..51 {
        many = many.tags(session_tag(&format!("k{i}"), "v"));
    }
    let err = many.send().await.unwrap_err().into_service_error();
    assert!(
        err.message()
            .unwrap()
            .contains("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
    );
    let err = assume()
        .tags(session_tag("k", &"v".repeat(257)))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.message().unwrap().contains("at 'tags.1.member.value'"));
    let err = assume()
        .tags(session_tag("team", "a"))
        .tags(session_tag("TEAM", "b"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    let err = assume()
        .tags(session_tag("team", "a"))
        .transitive_tag_keys("project")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));
    // Every refused call is in the log with what it asked for.
    let refused: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|r| r.outcome == "ValidationError")
        .collect();
    assert_eq!(refused.len(), 6);
    assert_eq!(refused[0].members["ExternalId"], "a");
    assert_eq!(refused[0].members["RoleSessionName"], "x");
}
