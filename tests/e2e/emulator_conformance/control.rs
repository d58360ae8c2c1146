//! The control API: acting behind the operator's back (launch apps, activity, patch, delete, reset).

use aws_emulator::{LaunchApp, ResourceRef, Scope};

use super::*;

#[tokio::test]
async fn behind_the_back_controls() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let scope = Scope::default();
    let id = create_domain(&c.sm, "ui")
        .tags(tag("team", "ml"))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    c.sm.create_user_profile()
        .domain_id(&id)
        .user_profile_name("carol")
        .send()
        .await
        .unwrap();

    let launch = LaunchApp {
        domain_id: id.clone(),
        user_profile_name: Some("carol".into()),
        app_type: "KernelGateway".into(),
        app_name: "datascience".into(),
        instance_type: Some("ml.m5.large".into()),
        image_arn: Some("arn:aws:sagemaker:us-east-1:081325390199:image/sagemaker-distribution-cpu".into()),
        ..LaunchApp::default()
    };
    emu.launch_app(&scope, &launch).unwrap();
    assert_eq!(emu.launch_app(&scope, &launch).unwrap_err().code, "ResourceInUse");
    let no_instance = LaunchApp {
        app_name: "other".into(),
        instance_type: None,
        ..launch.clone()
    };
    assert_eq!(
        emu.launch_app(&scope, &no_instance).unwrap_err().code,
        "ValidationException"
    );

    let app = ResourceRef::App {
        domain_id: id.clone(),
        user_profile_name: Some("carol".into()),
        space_name: None,
        app_type: "KernelGateway".into(),
        app_name: "datascience".into(),
    };
    emu.set_app_activity(&scope, &app, None, Some(1_700_000_000.0)).unwrap();
    let a =
        c.sm.describe_app()
            .domain_id(&id)
            .user_profile_name("carol")
            .app_type(AppType::KernelGateway)
            .app_name("datascience")
            .send()
            .await
            .unwrap();
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), 1_700_000_000);
    assert!(a.last_health_check_timestamp().unwrap().secs() > 1_700_000_000);

    let before =
        c.sm.describe_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap()
            .last_modified_time()
            .cloned()
            .unwrap();
    emu.advance(10.0);
    emu.patch(
        &scope,
        &ResourceRef::Domain { domain_id: id.clone() },
        &serde_json::json!({"DefaultUserSettings": {"SecurityGroups": ["sg-drift"]}}),
    )
    .unwrap();
    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.default_user_settings().unwrap().security_groups(), ["sg-drift"]);
    assert_eq!(d.default_user_settings().unwrap().execution_role(), Some(ROLE));
    assert!(d.last_modified_time().unwrap().secs() > before.secs());

    emu.delete(
        &scope,
        &ResourceRef::UserProfile {
            domain_id: id.clone(),
            user_profile_name: "carol".into(),
        },
    )
    .unwrap();
    let err =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("carol")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());

    let snapshot = emu.snapshot();
    assert_eq!(snapshot["Partitions"][0]["Domains"][0]["Tags"][0]["Key"], "team");
    assert_eq!(emu.domains()[0].efs_state.as_deref(), Some("available"));

    emu.reset();
    assert!(emu.domains().is_empty());
    assert!(emu.calls().is_empty());
}
