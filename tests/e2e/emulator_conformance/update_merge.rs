//! How Update operations merge settings structures, in both of the emulator's modes: members
//! set from the "console" (a direct SDK call or the admin patch API) that the operator does
//! not send again, such as `JupyterLabAppSettings.CustomImages`, survive only a deep merge.

use aws_emulator::{ResourceRef, Scope, UpdateMerge};
use aws_sdk_sagemaker::types::{
    AppInstanceType, CodeRepository, CustomImage, DockerSettings, DomainSettingsForUpdate, FeatureStatus,
    JupyterLabAppSettings, ResourceSpec, SpaceJupyterLabAppSettings,
};

use super::*;

fn spec(instance: AppInstanceType) -> ResourceSpec {
    ResourceSpec::builder().instance_type(instance).build()
}

fn custom_image() -> CustomImage {
    CustomImage::builder()
        .image_name("team-image")
        .app_image_config_name("team-config")
        .build()
}

/// A domain, profile and space whose settings were completed from the console; then the
/// operator's update, which mentions only the instance types, security groups and Docker's
/// trusted accounts. Returns the domain id.
async fn console_then_operator(emu: &Emulator, c: &Clients) -> String {
    let id = create_domain(&c.sm, "merge")
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    // The console: custom images, a code repository, Docker access, two security groups.
    c.sm.update_domain()
        .domain_id(&id)
        .default_user_settings(
            UserSettings::builder()
                .security_groups("sg-1")
                .security_groups("sg-2")
                .jupyter_lab_app_settings(
                    JupyterLabAppSettings::builder()
                        .custom_images(custom_image())
                        .default_resource_spec(spec(AppInstanceType::MlT3Medium))
                        .build(),
                )
                .build(),
        )
        .domain_settings_for_update(
            DomainSettingsForUpdate::builder()
                .docker_settings(
                    DockerSettings::builder()
                        .enable_docker_access(FeatureStatus::Enabled)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.sm.create_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .user_settings(
            UserSettings::builder()
                .execution_role(ROLE)
                .jupyter_lab_app_settings(
                    JupyterLabAppSettings::builder()
                        .default_resource_spec(spec(AppInstanceType::MlT3Medium))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    emu.patch(
        &Scope::default(),
        &ResourceRef::UserProfile {
            domain_id: id.clone(),
            user_profile_name: "alice".into(),
        },
        &serde_json::json!({"JupyterLabAppSettings": {"CustomImages": [
            {"ImageName": "team-image", "AppImageConfigName": "team-config"}
        ]}}),
    )
    .unwrap();
    c.sm.create_space()
        .domain_id(&id)
        .space_name("lab")
        .space_settings(
            SpaceSettings::builder()
                .jupyter_lab_app_settings(
                    SpaceJupyterLabAppSettings::builder()
                        .code_repositories(
                            CodeRepository::builder()
                                .repository_url("https://github.com/example/notebooks")
                                .build(),
                        )
                        .default_resource_spec(spec(AppInstanceType::MlT3Medium))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The operator: what it models, nothing else.
    let operator_lab = JupyterLabAppSettings::builder()
        .default_resource_spec(spec(AppInstanceType::MlM5Large))
        .build();
    c.sm.update_domain()
        .domain_id(&id)
        .default_user_settings(
            UserSettings::builder()
                .security_groups("sg-3")
                .jupyter_lab_app_settings(operator_lab.clone())
                .build(),
        )
        .domain_settings_for_update(
            DomainSettingsForUpdate::builder()
                .docker_settings(
                    DockerSettings::builder()
                        .vpc_only_trusted_accounts("111122223333")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.sm.update_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .user_settings(UserSettings::builder().jupyter_lab_app_settings(operator_lab).build())
        .send()
        .await
        .unwrap();
    c.sm.update_space()
        .domain_id(&id)
        .space_name("lab")
        .space_settings(
            SpaceSettings::builder()
                .jupyter_lab_app_settings(
                    SpaceJupyterLabAppSettings::builder()
                        .default_resource_spec(spec(AppInstanceType::MlM5Large))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    id
}

/// What the tests compare after the operator's update.
#[derive(Debug, PartialEq)]
struct Seen {
    domain_images: usize,
    domain_instance: Option<AppInstanceType>,
    domain_role: Option<String>,
    domain_groups: Vec<String>,
    docker_access: Option<FeatureStatus>,
    docker_accounts: Vec<String>,
    profile_images: usize,
    profile_instance: Option<AppInstanceType>,
    profile_role: Option<String>,
    space_repositories: usize,
    space_instance: Option<AppInstanceType>,
}

async fn seen(c: &Clients, id: &str) -> Seen {
    let d = c.sm.describe_domain().domain_id(id).send().await.unwrap();
    let dus = d.default_user_settings().unwrap();
    let lab = dus.jupyter_lab_app_settings().unwrap();
    let docker = d.domain_settings().and_then(|s| s.docker_settings()).unwrap();
    let p =
        c.sm.describe_user_profile()
            .domain_id(id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap();
    let p_settings = p.user_settings().unwrap();
    let p_lab = p_settings.jupyter_lab_app_settings().unwrap();
    let s =
        c.sm.describe_space()
            .domain_id(id)
            .space_name("lab")
            .send()
            .await
            .unwrap();
    let s_lab = s.space_settings().and_then(|s| s.jupyter_lab_app_settings()).unwrap();
    let instance = |r: Option<&ResourceSpec>| r.and_then(|r| r.instance_type()).cloned();
    Seen {
        domain_images: lab.custom_images().len(),
        domain_instance: instance(lab.default_resource_spec()),
        domain_role: dus.execution_role().map(String::from),
        domain_groups: dus.security_groups().to_vec(),
        docker_access: docker.enable_docker_access().cloned(),
        docker_accounts: docker.vpc_only_trusted_accounts().to_vec(),
        profile_images: p_lab.custom_images().len(),
        profile_instance: instance(p_lab.default_resource_spec()),
        profile_role: p_settings.execution_role().map(String::from),
        space_repositories: s_lab.code_repositories().len(),
        space_instance: instance(s_lab.default_resource_spec()),
    }
}

#[tokio::test]
async fn replace_mode_replaces_each_given_structure_wholesale() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    assert_eq!(emu.update_merge(), UpdateMerge::Replace, "the default");
    let id = console_then_operator(&emu, &c).await;
    assert_eq!(
        seen(&c, &id).await,
        Seen {
            domain_images: 0,
            domain_instance: Some(AppInstanceType::MlM5Large),
            domain_role: Some(ROLE.into()),
            domain_groups: vec!["sg-3".into()],
            docker_access: None,
            docker_accounts: vec!["111122223333".into()],
            profile_images: 0,
            profile_instance: Some(AppInstanceType::MlM5Large),
            profile_role: Some(ROLE.into()),
            space_repositories: 0,
            space_instance: Some(AppInstanceType::MlM5Large),
        }
    );
}

#[tokio::test]
async fn deep_mode_keeps_members_the_update_does_not_mention() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    emu.set_update_merge(UpdateMerge::Deep);
    assert_eq!(emu.update_merge(), UpdateMerge::Deep);
    let id = console_then_operator(&emu, &c).await;
    assert_eq!(
        seen(&c, &id).await,
        Seen {
            domain_images: 1,
            domain_instance: Some(AppInstanceType::MlM5Large),
            domain_role: Some(ROLE.into()),
            domain_groups: vec!["sg-3".into()],
            docker_access: Some(FeatureStatus::Enabled),
            docker_accounts: vec!["111122223333".into()],
            profile_images: 1,
            profile_instance: Some(AppInstanceType::MlM5Large),
            profile_role: Some(ROLE.into()),
            space_repositories: 1,
            space_instance: Some(AppInstanceType::MlM5Large),
        }
    );
    emu.reset();
    assert_eq!(emu.update_merge(), UpdateMerge::Replace);
}
