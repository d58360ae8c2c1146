//! The mapping between SDK shapes and [`crate::aws::model`], symmetric so that settings read
//! back from the API compare equal to the settings that were sent: absent lists read as empty,
//! and structures whose members are all empty read as `None`.

use aws_sdk_sagemaker::types as sm;

use crate::aws::model::{
    AppSettings, IdleSettings, ResourceSpec, Sharing, SpaceDefaults, SpaceSettings, StorageDefaults, UserSettings,
};

pub(super) fn resource_spec_to_sdk(spec: &ResourceSpec) -> sm::ResourceSpec {
    sm::ResourceSpec::builder()
        .set_instance_type(spec.instance_type.as_deref().map(sm::AppInstanceType::from))
        .set_sage_maker_image_arn(spec.image_arn.clone())
        .set_sage_maker_image_version_arn(spec.image_version_arn.clone())
        .set_lifecycle_config_arn(spec.lifecycle_config_arn.clone())
        .build()
}

pub(super) fn resource_spec_from_sdk(spec: sm::ResourceSpec) -> Option<ResourceSpec> {
    let spec = ResourceSpec {
        instance_type: spec.instance_type.map(|t| t.as_str().to_string()),
        image_arn: spec.sage_maker_image_arn,
        image_version_arn: spec.sage_maker_image_version_arn,
        lifecycle_config_arn: spec.lifecycle_config_arn,
    };
    (spec != ResourceSpec::default()).then_some(spec)
}

pub(super) fn idle_to_sdk(idle: &IdleSettings) -> sm::AppLifecycleManagement {
    let lifecycle = idle.enabled.map(|on| {
        if on {
            sm::LifecycleManagement::Enabled
        } else {
            sm::LifecycleManagement::Disabled
        }
    });
    let settings = sm::IdleSettings::builder()
        .set_lifecycle_management(lifecycle)
        .set_idle_timeout_in_minutes(idle.timeout_minutes)
        .set_min_idle_timeout_in_minutes(idle.min_minutes)
        .set_max_idle_timeout_in_minutes(idle.max_minutes)
        .build();
    sm::AppLifecycleManagement::builder().idle_settings(settings).build()
}

pub(super) fn idle_from_sdk(alm: sm::AppLifecycleManagement) -> Option<IdleSettings> {
    let s = alm.idle_settings?;
    let idle = IdleSettings {
        enabled: s.lifecycle_management.map(|m| m == sm::LifecycleManagement::Enabled),
        timeout_minutes: s.idle_timeout_in_minutes,
        min_minutes: s.min_idle_timeout_in_minutes,
        max_minutes: s.max_idle_timeout_in_minutes,
    };
    (idle != IdleSettings::default()).then_some(idle)
}

/// `None` for app settings with nothing in them, so they compare equal to "not configured".
pub(super) fn app_settings(settings: AppSettings) -> Option<AppSettings> {
    (settings != AppSettings::default()).then_some(settings)
}

pub(super) fn jupyter_lab_to_sdk(a: &AppSettings) -> sm::JupyterLabAppSettings {
    let repositories = a
        .code_repositories
        .iter()
        .map(|url| sm::CodeRepository::builder().repository_url(url).build())
        .collect();
    sm::JupyterLabAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .set_code_repositories(Some(repositories))
        .set_app_lifecycle_management(a.idle.as_ref().map(idle_to_sdk))
        .build()
}

pub(super) fn jupyter_lab_from_sdk(a: sm::JupyterLabAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: a
            .code_repositories
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.repository_url)
            .collect(),
        idle: a.app_lifecycle_management.and_then(idle_from_sdk),
    })
}

pub(super) fn code_editor_to_sdk(a: &AppSettings) -> sm::CodeEditorAppSettings {
    sm::CodeEditorAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .set_app_lifecycle_management(a.idle.as_ref().map(idle_to_sdk))
        .build()
}

pub(super) fn code_editor_from_sdk(a: sm::CodeEditorAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: Vec::new(),
        idle: a.app_lifecycle_management.and_then(idle_from_sdk),
    })
}

pub(super) fn kernel_gateway_to_sdk(a: &AppSettings) -> sm::KernelGatewayAppSettings {
    sm::KernelGatewayAppSettings::builder()
        .set_default_resource_spec(a.default_resource_spec.as_ref().map(resource_spec_to_sdk))
        .set_lifecycle_config_arns(Some(a.lifecycle_config_arns.clone()))
        .build()
}

pub(super) fn kernel_gateway_from_sdk(a: sm::KernelGatewayAppSettings) -> Option<AppSettings> {
    app_settings(AppSettings {
        default_resource_spec: a.default_resource_spec.and_then(resource_spec_from_sdk),
        lifecycle_config_arns: a.lifecycle_config_arns.unwrap_or_default(),
        code_repositories: Vec::new(),
        idle: None,
    })
}

pub(super) fn sharing_to_sdk(s: &Sharing) -> sm::SharingSettings {
    sm::SharingSettings::builder()
        .set_notebook_output_option(s.notebook_output_option.as_deref().map(sm::NotebookOutputOption::from))
        .set_s3_output_path(s.s3_output_path.clone())
        .set_s3_kms_key_id(s.s3_kms_key_id.clone())
        .build()
}

pub(super) fn sharing_from_sdk(s: sm::SharingSettings) -> Option<Sharing> {
    let sharing = Sharing {
        notebook_output_option: s.notebook_output_option.map(|o| o.as_str().to_string()),
        s3_output_path: s.s3_output_path,
        s3_kms_key_id: s.s3_kms_key_id,
    };
    (sharing != Sharing::default()).then_some(sharing)
}

pub(super) fn storage_to_sdk(s: &StorageDefaults) -> sm::DefaultSpaceStorageSettings {
    let ebs = sm::DefaultEbsStorageSettings::builder()
        .default_ebs_volume_size_in_gb(s.default_ebs_gb)
        .maximum_ebs_volume_size_in_gb(s.maximum_ebs_gb)
        .build();
    sm::DefaultSpaceStorageSettings::builder()
        .default_ebs_storage_settings(ebs)
        .build()
}

pub(super) fn storage_from_sdk(s: sm::DefaultSpaceStorageSettings) -> Option<StorageDefaults> {
    let ebs = s.default_ebs_storage_settings?;
    Some(StorageDefaults {
        default_ebs_gb: ebs.default_ebs_volume_size_in_gb.unwrap_or_default(),
        maximum_ebs_gb: ebs.maximum_ebs_volume_size_in_gb.unwrap_or_default(),
    })
}

/// Sent complete: lists always go out (possibly empty) so an update can clear them.
pub(super) fn user_settings_to_sdk(u: &UserSettings) -> sm::UserSettings {
    sm::UserSettings::builder()
        .set_execution_role(u.execution_role.clone())
        .set_security_groups(Some(u.security_groups.clone()))
        .set_sharing_settings(u.sharing.as_ref().map(sharing_to_sdk))
        .set_jupyter_lab_app_settings(u.jupyter_lab.as_ref().map(jupyter_lab_to_sdk))
        .set_code_editor_app_settings(u.code_editor.as_ref().map(code_editor_to_sdk))
        .set_kernel_gateway_app_settings(u.kernel_gateway.as_ref().map(kernel_gateway_to_sdk))
        .set_space_storage_settings(u.space_storage.as_ref().map(storage_to_sdk))
        .build()
}

pub(super) fn user_settings_from_sdk(u: sm::UserSettings) -> UserSettings {
    UserSettings {
        execution_role: u.execution_role,
        security_groups: u.security_groups.unwrap_or_default(),
        sharing: u.sharing_settings.and_then(sharing_from_sdk),
        jupyter_lab: u.jupyter_lab_app_settings.and_then(jupyter_lab_from_sdk),
        code_editor: u.code_editor_app_settings.and_then(code_editor_from_sdk),
        kernel_gateway: u.kernel_gateway_app_settings.and_then(kernel_gateway_from_sdk),
        space_storage: u.space_storage_settings.and_then(storage_from_sdk),
    }
}

pub(super) fn space_defaults_to_sdk(s: &SpaceDefaults) -> sm::DefaultSpaceSettings {
    sm::DefaultSpaceSettings::builder()
        .set_execution_role(s.execution_role.clone())
        .set_security_groups(Some(s.security_groups.clone()))
        .set_jupyter_lab_app_settings(s.jupyter_lab.as_ref().map(jupyter_lab_to_sdk))
        .set_kernel_gateway_app_settings(s.kernel_gateway.as_ref().map(kernel_gateway_to_sdk))
        .set_space_storage_settings(s.space_storage.as_ref().map(storage_to_sdk))
        .build()
}

pub(super) fn space_defaults_from_sdk(s: sm::DefaultSpaceSettings) -> Option<SpaceDefaults> {
    let defaults = SpaceDefaults {
        execution_role: s.execution_role,
        security_groups: s.security_groups.unwrap_or_default(),
        jupyter_lab: s.jupyter_lab_app_settings.and_then(jupyter_lab_from_sdk),
        kernel_gateway: s.kernel_gateway_app_settings.and_then(kernel_gateway_from_sdk),
        space_storage: s.space_storage_settings.and_then(storage_from_sdk),
    };
    (defaults != SpaceDefaults::default()).then_some(defaults)
}

/// `SpaceSettings` for Create (`with_app_type`) or Update (AppType cannot be sent). Only the
/// settings of the space's own app type are sent; members are always complete.
pub(super) fn space_settings_to_sdk(s: &SpaceSettings, with_app_type: bool) -> sm::SpaceSettings {
    let lifecycle = s.idle_timeout_minutes.map(|minutes| {
        sm::SpaceAppLifecycleManagement::builder()
            .idle_settings(
                sm::SpaceIdleSettings::builder()
                    .idle_timeout_in_minutes(minutes)
                    .build(),
            )
            .build()
    });
    let resource_spec = s.default_resource_spec.as_ref().map(resource_spec_to_sdk);
    let mut builder = sm::SpaceSettings::builder()
        .set_app_type(with_app_type.then(|| sm::AppType::from(s.app_type.as_str())))
        .set_space_storage_settings(s.ebs_volume_size_gb.map(|gb| {
            sm::SpaceStorageSettings::builder()
                .ebs_storage_settings(sm::EbsStorageSettings::builder().ebs_volume_size_in_gb(gb).build())
                .build()
        }))
        .set_custom_file_systems(Some(
            s.efs_file_system_ids
                .iter()
                .map(|id| sm::CustomFileSystem::EfsFileSystem(sm::EfsFileSystem::builder().file_system_id(id).build()))
                .collect(),
        ));
    builder = if s.app_type == "CodeEditor" {
        builder.code_editor_app_settings(
            sm::SpaceCodeEditorAppSettings::builder()
                .set_default_resource_spec(resource_spec)
                .set_app_lifecycle_management(lifecycle)
                .build(),
        )
    } else {
        builder.jupyter_lab_app_settings(
            sm::SpaceJupyterLabAppSettings::builder()
                .set_default_resource_spec(resource_spec)
                .set_app_lifecycle_management(lifecycle)
                .build(),
        )
    };
    builder.build()
}

pub(super) fn space_settings_from_sdk(s: sm::SpaceSettings) -> SpaceSettings {
    let (resource_spec, lifecycle) = match (s.jupyter_lab_app_settings, s.code_editor_app_settings) {
        (Some(lab), _) => (lab.default_resource_spec, lab.app_lifecycle_management),
        (None, Some(editor)) => (editor.default_resource_spec, editor.app_lifecycle_management),
        (None, None) => (None, None),
    };
    SpaceSettings {
        app_type: s.app_type.map(|t| t.as_str().to_string()).unwrap_or_default(),
        default_resource_spec: resource_spec.and_then(resource_spec_from_sdk),
        idle_timeout_minutes: lifecycle
            .and_then(|l| l.idle_settings)
            .and_then(|i| i.idle_timeout_in_minutes),
        ebs_volume_size_gb: s
            .space_storage_settings
            .and_then(|st| st.ebs_storage_settings)
            .and_then(|e| e.ebs_volume_size_in_gb),
        efs_file_system_ids: s
            .custom_file_systems
            .unwrap_or_default()
            .into_iter()
            .filter_map(|fs| match fs {
                sm::CustomFileSystem::EfsFileSystem(efs) => efs.file_system_id,
                _ => None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_app(code_repositories: bool, idle: bool) -> AppSettings {
        AppSettings {
            default_resource_spec: Some(ResourceSpec {
                instance_type: Some("ml.t3.medium".into()),
                image_arn: Some("arn:aws:sagemaker:us-east-1:081325390199:image/jupyter-server-3".into()),
                image_version_arn: None,
                lifecycle_config_arn: Some("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x".into()),
            }),
            lifecycle_config_arns: vec!["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x".into()],
            code_repositories: if code_repositories {
                vec!["https://github.com/example/repo.git".into()]
            } else {
                Vec::new()
            },
            idle: idle.then_some(IdleSettings {
                enabled: Some(true),
                timeout_minutes: Some(120),
                min_minutes: Some(60),
                max_minutes: None,
            }),
        }
    }

    fn full_user_settings() -> UserSettings {
        UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Exec".into()),
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            sharing: Some(Sharing {
                notebook_output_option: Some("Allowed".into()),
                s3_output_path: Some("s3://bucket/out".into()),
                s3_kms_key_id: None,
            }),
            jupyter_lab: Some(full_app(true, true)),
            code_editor: Some(full_app(false, true)),
            kernel_gateway: Some(full_app(false, false)),
            space_storage: Some(StorageDefaults {
                default_ebs_gb: 5,
                maximum_ebs_gb: 100,
            }),
        }
    }

    #[test]
    fn user_settings_round_trip() {
        let desired = full_user_settings();
        assert_eq!(user_settings_from_sdk(user_settings_to_sdk(&desired)), desired);
        let minimal = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Exec".into()),
            ..UserSettings::default()
        };
        assert_eq!(user_settings_from_sdk(user_settings_to_sdk(&minimal)), minimal);
    }

    #[test]
    fn space_defaults_round_trip() {
        let desired = SpaceDefaults {
            execution_role: Some("arn:aws:iam::123456789012:role/Space".into()),
            security_groups: vec!["sg-3".into()],
            jupyter_lab: Some(full_app(true, true)),
            kernel_gateway: Some(full_app(false, false)),
            space_storage: Some(StorageDefaults {
                default_ebs_gb: 10,
                maximum_ebs_gb: 20,
            }),
        };
        assert_eq!(space_defaults_from_sdk(space_defaults_to_sdk(&desired)), Some(desired));
        assert_eq!(
            space_defaults_from_sdk(sm::DefaultSpaceSettings::builder().build()),
            None
        );
    }

    #[test]
    fn empty_structures_read_as_none() {
        let empty = sm::UserSettings::builder()
            .sharing_settings(sm::SharingSettings::builder().build())
            .jupyter_lab_app_settings(
                sm::JupyterLabAppSettings::builder()
                    .set_lifecycle_config_arns(Some(Vec::new()))
                    .default_resource_spec(sm::ResourceSpec::builder().build())
                    .app_lifecycle_management(
                        sm::AppLifecycleManagement::builder()
                            .idle_settings(sm::IdleSettings::builder().build())
                            .build(),
                    )
                    .build(),
            )
            .code_editor_app_settings(sm::CodeEditorAppSettings::builder().build())
            .kernel_gateway_app_settings(sm::KernelGatewayAppSettings::builder().build())
            .space_storage_settings(sm::DefaultSpaceStorageSettings::builder().build())
            .build();
        assert_eq!(user_settings_from_sdk(empty), UserSettings::default());
    }

    #[test]
    fn lists_are_sent_even_when_empty() {
        let sent = user_settings_to_sdk(&UserSettings {
            jupyter_lab: Some(AppSettings {
                idle: Some(IdleSettings {
                    enabled: Some(false),
                    ..IdleSettings::default()
                }),
                ..AppSettings::default()
            }),
            ..UserSettings::default()
        });
        assert_eq!(sent.security_groups, Some(Vec::new()));
        let lab = sent.jupyter_lab_app_settings.unwrap();
        assert_eq!(lab.lifecycle_config_arns, Some(Vec::new()));
        assert_eq!(lab.code_repositories, Some(Vec::new()));
        assert_eq!(
            lab.app_lifecycle_management
                .unwrap()
                .idle_settings
                .unwrap()
                .lifecycle_management,
            Some(sm::LifecycleManagement::Disabled)
        );
    }

    #[test]
    fn space_settings_round_trip_for_both_app_types() {
        for app_type in ["JupyterLab", "CodeEditor"] {
            let desired = SpaceSettings {
                app_type: app_type.into(),
                default_resource_spec: full_app(false, false).default_resource_spec,
                idle_timeout_minutes: Some(120),
                ebs_volume_size_gb: Some(20),
                efs_file_system_ids: vec!["fs-0123456789abcdef0".into()],
            };
            assert_eq!(space_settings_from_sdk(space_settings_to_sdk(&desired, true)), desired);
            assert_eq!(
                space_settings_to_sdk(&desired, false).app_type,
                None,
                "AppType is never updated"
            );
        }
    }
}
