//! Apps: one per owner, type and name; tag propagation; health checks; Deleted retention.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{AppStatus, ResourceSpec};

use super::*;

#[tokio::test]
async fn apps_run_stop_and_expire_with_their_owners() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let (id, arn) = domain_with_alice_and_her_space(&c).await;

    // Apps: one per (owner, type, name); tags propagate from domain and owner.
    let app_arn =
        c.sm.create_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .resource_spec(
                ResourceSpec::builder()
                    .instance_type(aws_sdk_sagemaker::types::AppInstanceType::MlT3Large)
                    .build(),
            )
            .tags(tag("app", "lab"))
            .send()
            .await
            .unwrap()
            .app_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        app_arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:app/{id}/alice-lab/jupyterlab/default")
    );
    let err =
        c.sm.create_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    let tags = c.sm.list_tags().resource_arn(&app_arn).send().await.unwrap();
    let keys: Vec<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["cost-center", "app"]);

    c.sm.create_app()
        .domain_id(&id)
        .user_profile_name("alice")
        .app_type(AppType::JupyterServer)
        .app_name("default")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.delete_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());
    assert_eq!(
        err.message(),
        Some(format!("Unable to delete UserProfile [{arn}] because App(s) are associated with it.").as_str())
    );
    let err =
        c.sm.delete_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());

    // Health-check timestamps move with the clock.
    let describe_lab = || {
        c.sm.describe_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .send()
    };
    let a = describe_lab().await.unwrap();
    assert_eq!(a.status(), Some(&AppStatus::InService));
    assert_eq!(
        a.resource_spec().and_then(|r| r.instance_type()).map(|t| t.as_str()),
        Some("ml.t3.large")
    );
    let h0 = a.last_health_check_timestamp().unwrap().secs();
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), h0);
    emu.advance(601.0);
    let a = describe_lab().await.unwrap();
    assert_eq!(a.last_health_check_timestamp().unwrap().secs(), h0 + 600);
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), h0 + 600);

    // DeleteApp -> Deleted, still listed until 24 h pass.
    c.sm.delete_app()
        .domain_id(&id)
        .space_name("alice-lab")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(describe_lab().await.unwrap().status(), Some(&AppStatus::Deleted));
    let apps =
        c.sm.list_apps()
            .domain_id_equals(&id)
            .space_name_equals("alice-lab")
            .send()
            .await
            .unwrap();
    assert_eq!(apps.apps().len(), 1);
    assert_eq!(apps.apps()[0].status(), Some(&AppStatus::Deleted));
    c.sm.delete_space()
        .domain_id(&id)
        .space_name("alice-lab")
        .send()
        .await
        .unwrap();
    emu.advance(86_401.0);
    let apps = c.sm.list_apps().domain_id_equals(&id).send().await.unwrap();
    assert_eq!(apps.apps().len(), 1, "only the JupyterServer app remains");
    let err = describe_lab().await.unwrap_err().into_service_error();
    assert!(err.is_resource_not_found());
    let err =
        c.sm.list_apps()
            .user_profile_name_equals("alice")
            .space_name_equals("x")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
}
