//! Studio lifecycle configs.

use super::*;

#[tokio::test]
async fn studio_lifecycle_configs_crud() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    // Studio lifecycle configs.
    use aws_sdk_sagemaker::types::StudioLifecycleConfigAppType as LccType;
    let lcc =
        c.sm.create_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .studio_lifecycle_config_content("ZWNobyBoaQ==")
            .studio_lifecycle_config_app_type(LccType::JupyterLab)
            .send()
            .await
            .unwrap();
    assert_eq!(
        lcc.studio_lifecycle_config_arn(),
        Some("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/auto-stop")
    );
    let err =
        c.sm.create_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .studio_lifecycle_config_content("ZWNobyBoaQ==")
            .studio_lifecycle_config_app_type(LccType::JupyterLab)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());
    let d =
        c.sm.describe_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .send()
            .await
            .unwrap();
    assert_eq!(d.studio_lifecycle_config_content(), Some("ZWNobyBoaQ=="));
    assert_eq!(
        c.sm.list_studio_lifecycle_configs()
            .send()
            .await
            .unwrap()
            .studio_lifecycle_configs()
            .len(),
        1
    );
    c.sm.delete_studio_lifecycle_config()
        .studio_lifecycle_config_name("auto-stop")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.describe_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
}

#[tokio::test]
async fn lifecycle_config_validation_and_use_by_apps() {
    use aws_sdk_sagemaker::error::ProvideErrorMetadata;
    use aws_sdk_sagemaker::types::{ResourceSpec, StudioLifecycleConfigAppType as LccType};

    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let create = |content: String, app_type: LccType| {
        c.sm.create_studio_lifecycle_config()
            .studio_lifecycle_config_name("setup")
            .studio_lifecycle_config_content(content)
            .studio_lifecycle_config_app_type(app_type)
            .send()
    };
    // The model: content of 1..16384 characters (the base64 text), four app types.
    let err = create("A".repeat(16_388), LccType::JupyterLab)
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message()
            .unwrap()
            .contains("at 'studioLifecycleConfigContent' failed to satisfy constraint: Member must have length less than or equal to 16384"),
        "{:?}",
        err.message()
    );
    let err = create("ZWNobw==".into(), LccType::from("VSCode"))
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.message()
            .unwrap()
            .contains("Member must satisfy enum value set: [JupyterServer, KernelGateway, CodeEditor, JupyterLab]")
    );
    let err = create("echo hi".into(), LccType::JupyterLab)
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("StudioLifecycleConfigContent must be base64 encoded.")
    );
    let arn = create("A".repeat(16_384), LccType::JupyterLab)
        .await
        .unwrap()
        .studio_lifecycle_config_arn()
        .unwrap()
        .to_string();

    // An app running with the config blocks its deletion (ResourceInUse) until it is deleted.
    let (id, _) = domain_with_alice_and_her_space(&c).await;
    let app = || {
        c.sm.create_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
    };
    app()
        .resource_spec(ResourceSpec::builder().lifecycle_config_arn(&arn).build())
        .send()
        .await
        .unwrap();
    let delete = || {
        c.sm.delete_studio_lifecycle_config()
            .studio_lifecycle_config_name("setup")
            .send()
    };
    let err = delete().await.unwrap_err().into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    assert!(
        err.message().unwrap().contains("is in use by App"),
        "{:?}",
        err.message()
    );
    c.sm.delete_app()
        .domain_id(&id)
        .space_name("alice-lab")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .unwrap();
    c.sm.list_apps().send().await.unwrap(); // Deleting -> Deleted (no delay)
    delete().await.unwrap();
}
