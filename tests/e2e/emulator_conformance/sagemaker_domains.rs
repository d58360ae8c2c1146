//! Domains: lifecycle under the emulated clock, validation, update rules, deletion and EFS retention.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{AppNetworkAccessType, RetentionPolicy, RetentionType};

use super::*;

#[tokio::test]
async fn domain_lifecycle_follows_the_emulated_clock() {
    let emu = Emulator::start(Config::default()).await.unwrap();
    let c = clients(&emu).await;

    let created = create_domain(&c.sm, "studio")
        .tags(tag("team", "ml"))
        .send()
        .await
        .unwrap();
    let id = created.domain_id().unwrap().to_string();
    assert_eq!(id.len(), 14, "d- plus 12 characters: {id}");
    assert!(id.starts_with("d-") && id[2..].chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()));
    assert_eq!(
        created.domain_arn().unwrap(),
        format!("arn:aws:sagemaker:us-east-1:123456789012:domain/{id}")
    );
    assert_eq!(
        created.url().unwrap(),
        format!("https://{id}.studio.us-east-1.sagemaker.aws")
    );

    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.status(), Some(&DomainStatus::Pending));
    assert_eq!(d.auth_mode(), Some(&AuthMode::Iam));
    assert_eq!(d.default_user_settings().and_then(|u| u.execution_role()), Some(ROLE));
    assert_eq!(
        d.app_network_access_type(),
        Some(&AppNetworkAccessType::PublicInternetOnly)
    );
    assert!(d.home_efs_file_system_id().is_none(), "no EFS before InService");

    emu.advance(2.5);
    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.status(), Some(&DomainStatus::InService));
    let efs = d.home_efs_file_system_id().unwrap().to_string();
    assert!(efs.starts_with("fs-") && efs.len() == 20, "{efs}");

    // Duplicate name, unknown id, bad name.
    let err = create_domain(&c.sm, "studio")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    let err =
        c.sm.describe_domain()
            .domain_id("d-000000000000")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
    let err = create_domain(&c.sm, "bad_name")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("domainName"), "{:?}", err.message());

    // VpcOnly without VpcId and SubnetIds.
    let err =
        c.sm.update_domain()
            .domain_id(&id)
            .app_network_access_type(AppNetworkAccessType::VpcOnly)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("VpcId and Subnet IDs are required for updating domains to VpcOnly mode.")
    );

    // Update -> Updating; a second update while Updating is ResourceInUse.
    let ds = UserSettings::builder()
        .execution_role(ROLE)
        .security_groups("sg-1")
        .build();
    c.sm.update_domain()
        .domain_id(&id)
        .default_user_settings(ds.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::Updating);
    let err =
        c.sm.update_domain()
            .domain_id(&id)
            .default_user_settings(ds)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    emu.advance(1.5);
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::InService);

    // A profile blocks domain deletion.
    c.sm.create_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.delete_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    emu.advance(1.5);
    c.sm.delete_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let p =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap();
    assert_eq!(p.status().map(|s| s.as_str()), Some("Deleting"));
    emu.advance(1.5);
    let err =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");

    // Deleting -> gone, EFS deleted per RetentionPolicy.
    c.sm.delete_domain()
        .domain_id(&id)
        .retention_policy(
            RetentionPolicy::builder()
                .home_efs_file_system(RetentionType::Delete)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::Deleting);
    assert_eq!(c.sm.list_domains().send().await.unwrap().domains().len(), 1);
    emu.advance(1.5);
    let err =
        c.sm.describe_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
    assert!(c.sm.list_domains().send().await.unwrap().domains().is_empty());
    let fs = emu.efs_file_systems();
    assert_eq!(fs.len(), 1);
    assert_eq!(
        (fs[0].file_system_id.as_str(), fs[0].state.as_str()),
        (efs.as_str(), "deleted")
    );
    assert_eq!(fs[0].retention.as_deref(), Some("Delete"));
}
