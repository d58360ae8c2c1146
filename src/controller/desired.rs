//! What AWS should hold, from the spec: the spec's settings mapped to the AWS model (pure),
//! shared by the domain, profile and space controllers.

use crate::api;
use crate::aws::model;

/// Idle settings at domain level: `idleShutdown` becomes the JupyterLab and Code Editor
/// `AppLifecycleManagement.IdleSettings` of the defaults.
pub fn domain_idle(idle: Option<&api::IdleShutdown>) -> Option<model::IdleSettings> {
    idle.map(|idle| model::IdleSettings {
        enabled: Some(idle.enabled),
        timeout_minutes: Some(idle.idle_timeout_minutes),
        min_minutes: idle.min_idle_timeout_minutes,
        max_minutes: idle.max_idle_timeout_minutes,
    })
}

/// A profile- or space-level timeout.
fn level_idle(idle: Option<&api::AppIdleTimeout>) -> Option<model::IdleSettings> {
    idle.map(|idle| model::IdleSettings {
        enabled: Some(true),
        timeout_minutes: Some(idle.idle_timeout_minutes),
        ..Default::default()
    })
}

fn resource_spec(spec: Option<&api::ResourceSpec>) -> Option<model::ResourceSpec> {
    spec.map(|spec| model::ResourceSpec {
        instance_type: spec.instance_type.clone(),
        image_arn: spec.image_arn.clone(),
        image_version_arn: spec.image_version_arn.clone(),
        lifecycle_config_arn: spec.lifecycle_config_arn.clone(),
    })
    .filter(|spec| spec != &model::ResourceSpec::default())
}

/// `None` for settings that carry nothing, so "absent" and "empty" compare equal.
fn non_empty(settings: model::AppSettings) -> Option<model::AppSettings> {
    (settings != model::AppSettings::default()).then_some(settings)
}

fn jupyter_lab(
    spec: Option<&api::JupyterLabSettings>,
    idle: Option<model::IdleSettings>,
) -> Option<model::AppSettings> {
    let settings = match spec {
        Some(spec) => model::AppSettings {
            default_resource_spec: resource_spec(spec.default_resource_spec.as_ref()),
            lifecycle_config_arns: spec.lifecycle_config_arns.clone(),
            code_repositories: spec.code_repositories.iter().map(|r| r.url.clone()).collect(),
            idle: idle.or_else(|| level_idle(spec.idle.as_ref())),
        },
        None => model::AppSettings {
            idle,
            ..Default::default()
        },
    };
    non_empty(settings)
}

fn code_editor(
    spec: Option<&api::CodeEditorSettings>,
    idle: Option<model::IdleSettings>,
) -> Option<model::AppSettings> {
    let settings = match spec {
        Some(spec) => model::AppSettings {
            default_resource_spec: resource_spec(spec.default_resource_spec.as_ref()),
            lifecycle_config_arns: spec.lifecycle_config_arns.clone(),
            code_repositories: Vec::new(),
            idle: idle.or_else(|| level_idle(spec.idle.as_ref())),
        },
        None => model::AppSettings {
            idle,
            ..Default::default()
        },
    };
    non_empty(settings)
}

fn kernel_gateway(spec: Option<&api::KernelGatewaySettings>) -> Option<model::AppSettings> {
    spec.and_then(|spec| {
        non_empty(model::AppSettings {
            default_resource_spec: resource_spec(spec.default_resource_spec.as_ref()),
            lifecycle_config_arns: spec.lifecycle_config_arns.clone(),
            ..Default::default()
        })
    })
}

fn storage(spec: Option<&api::SpaceStorageSettings>) -> Option<model::StorageDefaults> {
    spec.map(|s| model::StorageDefaults {
        default_ebs_gb: s.default_ebs_volume_size_gb,
        maximum_ebs_gb: s.maximum_ebs_volume_size_gb,
    })
}

fn sharing(spec: Option<&api::SharingSettings>) -> Option<model::Sharing> {
    spec.map(|s| model::Sharing {
        notebook_output_option: Some(
            match s.notebook_output {
                api::NotebookOutput::Allowed => "Allowed",
                api::NotebookOutput::Disabled => "Disabled",
            }
            .to_string(),
        ),
        s3_output_path: s.s3_output_path.clone(),
        s3_kms_key_id: s.s3_kms_key_id.clone(),
    })
}

/// `UserSettings` for the API. `idle` (domain level) overrides the per-level timeouts.
pub fn user_settings(spec: &api::UserSettings, idle: Option<model::IdleSettings>) -> model::UserSettings {
    model::UserSettings {
        execution_role: spec.execution_role.clone(),
        security_groups: spec.security_groups.clone(),
        sharing: sharing(spec.sharing.as_ref()),
        jupyter_lab: jupyter_lab(spec.jupyter_lab.as_ref(), idle.clone()),
        code_editor: code_editor(spec.code_editor.as_ref(), idle),
        kernel_gateway: kernel_gateway(spec.kernel_gateway.as_ref()),
        space_storage: storage(spec.space_storage.as_ref()),
    }
}

/// `DefaultSpaceSettings` for the API (spaces have no Code Editor defaults at domain level).
pub fn space_defaults(
    spec: Option<&api::SpaceDefaults>,
    idle: Option<model::IdleSettings>,
) -> Option<model::SpaceDefaults> {
    let defaults = match spec {
        Some(spec) => model::SpaceDefaults {
            execution_role: spec.execution_role.clone(),
            security_groups: spec.security_groups.clone(),
            jupyter_lab: jupyter_lab(spec.jupyter_lab.as_ref(), idle),
            kernel_gateway: kernel_gateway(spec.kernel_gateway.as_ref()),
            space_storage: storage(spec.space_storage.as_ref()),
        },
        None => model::SpaceDefaults {
            jupyter_lab: jupyter_lab(None, idle),
            ..Default::default()
        },
    };
    (defaults != model::SpaceDefaults::default()).then_some(defaults)
}

/// `SpaceSettings` of a space running `app_type` (`JupyterLab` or `CodeEditor`).
pub fn space_settings(app_type: &str, spec: Option<&api::SpaceSettings>) -> model::SpaceSettings {
    let spec = spec.cloned().unwrap_or_default();
    model::SpaceSettings {
        app_type: app_type.into(),
        default_resource_spec: resource_spec(spec.default_resource_spec.as_ref()),
        idle_timeout_minutes: spec.idle_timeout_minutes,
        ebs_volume_size_gb: spec.ebs_volume_size_gb,
        efs_file_system_ids: spec
            .custom_file_systems
            .iter()
            .map(|fs| fs.efs_file_system_id.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_settings_carry_the_app_type_and_flatten_file_systems() {
        let spec = api::SpaceSettings {
            default_resource_spec: Some(api::ResourceSpec {
                instance_type: Some("ml.t3.large".into()),
                ..Default::default()
            }),
            ebs_volume_size_gb: Some(20),
            idle_timeout_minutes: Some(120),
            custom_file_systems: vec![api::CustomFileSystem {
                efs_file_system_id: "fs-0123456789abcdef0".into(),
            }],
        };
        let settings = space_settings("CodeEditor", Some(&spec));
        assert_eq!(settings.app_type, "CodeEditor");
        assert_eq!(settings.efs_file_system_ids, vec!["fs-0123456789abcdef0".to_string()]);
        assert_eq!(settings.ebs_volume_size_gb, Some(20));
        assert_eq!(space_settings("JupyterLab", None).default_resource_spec, None);
    }

    #[test]
    fn domain_idle_reaches_both_app_types() {
        let idle = domain_idle(Some(&api::IdleShutdown {
            enabled: true,
            idle_timeout_minutes: 120,
            min_idle_timeout_minutes: Some(60),
            max_idle_timeout_minutes: Some(480),
            ..Default::default()
        }));
        let settings = user_settings(&api::UserSettings::default(), idle.clone());
        assert_eq!(settings.jupyter_lab.unwrap().idle, idle);
        assert_eq!(settings.code_editor.unwrap().idle, idle);
        let spaces = space_defaults(None, idle.clone()).unwrap();
        assert_eq!(spaces.jupyter_lab.unwrap().idle, idle);
    }

    #[test]
    fn empty_settings_map_to_absent_members() {
        let settings = user_settings(
            &api::UserSettings {
                jupyter_lab: Some(api::JupyterLabSettings::default()),
                ..Default::default()
            },
            None,
        );
        assert_eq!(settings, model::UserSettings::default());
        assert_eq!(space_defaults(Some(&api::SpaceDefaults::default()), None), None);
    }

    #[test]
    fn profile_timeout_maps_to_enabled_idle_settings() {
        let spec = api::UserSettings {
            jupyter_lab: Some(api::JupyterLabSettings {
                idle: Some(api::AppIdleTimeout {
                    idle_timeout_minutes: 240,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let idle = user_settings(&spec, None).jupyter_lab.unwrap().idle.unwrap();
        assert_eq!(idle.timeout_minutes, Some(240));
        assert_eq!(idle.enabled, Some(true));
    }
}
