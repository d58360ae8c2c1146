//! User profiles and spaces: names, ARNs, EFS UIDs, SSO rules, ownership and immutable members.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn profiles_and_spaces_in_a_domain() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let id = create_domain(&c.sm, "apps")
        .tags(tag("cost-center", "42"))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();

    // SSO members are refused in IAM domains.
    let err =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("bob")
            .single_sign_on_user_identifier("UserName")
            .single_sign_on_user_value("bob")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    let arn =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("Alice")
            .tags(tag("owner", "alice"))
            .send()
            .await
            .unwrap()
            .user_profile_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:user-profile/{id}/alice")
    );
    let err =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "names are case-insensitive: {err:?}");
    let p =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap();
    assert_eq!(p.home_efs_file_system_uid(), Some("200001"));

    // A private space owned by the profile.
    let space_arn =
        c.sm.create_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .space_settings(SpaceSettings::builder().app_type(AppType::JupyterLab).build())
            .ownership_settings(OwnershipSettings::builder().owner_user_profile_name("Alice").build())
            .space_sharing_settings(
                SpaceSharingSettings::builder()
                    .sharing_type(SharingType::Private)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .space_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        space_arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:space/{id}/alice-lab")
    );
    let s =
        c.sm.describe_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .send()
            .await
            .unwrap();
    assert_eq!(s.home_efs_file_system_uid(), Some("200002"));
    let err =
        c.sm.update_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .space_settings(SpaceSettings::builder().app_type(AppType::JupyterLab).build())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert_eq!(err.message(), Some("Updating AppType for Space is not supported."));
}
