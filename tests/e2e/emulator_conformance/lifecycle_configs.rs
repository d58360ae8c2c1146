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
