//! Studio settings shared by domain defaults, profiles and spaces.
//!
//! The types are the SageMaker settings structures, generated from the service model
//! ([`generated`]; field names are the API member names in lowerCamelCase). A few fields are not
//! API members: the names earlier versions of the CRDs used ([`legacy`]: `jupyterLab`, `sharing`,
//! `spaceStorage`, ...) and the operator's shortcuts (a space's `defaultResourceSpec`,
//! `ebsVolumeSizeGb`, `idleTimeoutMinutes`, a file system's `efsFileSystemId`).
//! `effective()` folds them into the API members; everything downstream (the desired state in
//! AWS, guardrail checks) reads the effective settings.

pub mod generated;
pub mod legacy;

pub use generated::*;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::space::SpaceAppType;

/// A StudioLifecycleConfig of the referring resource's namespace, by name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleConfigRef {
    /// Name of the StudioLifecycleConfig.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Whether apps run it when the user picks no configuration
    /// (`defaultResourceSpec.lifecycleConfigArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

/// Turns a settings value into JSON keyed by the API's member names (the wire format).
pub trait ToDoc {
    /// The value as the API spells it.
    fn to_doc(&self) -> Value;
}

impl ToDoc for String {
    fn to_doc(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToDoc for i32 {
    fn to_doc(&self) -> Value {
        Value::from(*self)
    }
}

impl ToDoc for i64 {
    fn to_doc(&self) -> Value {
        Value::from(*self)
    }
}

impl ToDoc for bool {
    fn to_doc(&self) -> Value {
        Value::Bool(*self)
    }
}

impl<T: ToDoc> ToDoc for Vec<T> {
    fn to_doc(&self) -> Value {
        Value::Array(self.iter().map(ToDoc::to_doc).collect())
    }
}

/// A settings structure as a JSON object keyed by the API's member names.
pub fn document(settings: &impl ToDoc) -> Map<String, Value> {
    match settings.to_doc() {
        Value::Object(members) => members,
        other => panic!("a settings structure is an object, not {other}"),
    }
}

/// The default resource specs of the app settings of a level, with their field names.
fn specs<'a, const N: usize>(
    found: [(&'static str, Option<&'a ResourceSpec>); N],
) -> Vec<(&'static str, &'a ResourceSpec)> {
    found
        .into_iter()
        .filter_map(|(at, spec)| spec.map(|spec| (at, spec)))
        .collect()
}

impl UserSettings {
    /// The settings with earlier names folded into the API members.
    pub fn effective(&self) -> UserSettings {
        let mut settings = self.clone();
        if let Some(sharing) = settings.sharing.take() {
            settings.sharing_settings = Some(sharing.to_api());
        }
        if let Some(lab) = settings.jupyter_lab.take() {
            settings.jupyter_lab_app_settings = Some(lab.to_api());
        }
        if let Some(editor) = settings.code_editor.take() {
            settings.code_editor_app_settings = Some(editor.to_api());
        }
        if let Some(gateway) = settings.kernel_gateway.take() {
            settings.kernel_gateway_app_settings = Some(gateway.to_api());
        }
        if let Some(storage) = settings.space_storage.take() {
            settings.space_storage_settings = Some(storage.to_api());
        }
        settings
    }

    /// Every default resource spec (image, instance type) of effective settings, by app
    /// settings field.
    pub fn resource_specs(&self) -> Vec<(&'static str, &ResourceSpec)> {
        specs([
            (
                "jupyterServerAppSettings",
                self.jupyter_server_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "kernelGatewayAppSettings",
                self.kernel_gateway_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "tensorBoardAppSettings",
                self.tensor_board_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "rSessionAppSettings",
                self.r_session_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "codeEditorAppSettings",
                self.code_editor_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "jupyterLabAppSettings",
                self.jupyter_lab_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
        ])
    }

    /// The idle timeouts of effective settings (`IdleTimeoutInMinutes` and
    /// `MaxIdleTimeoutInMinutes` of JupyterLab and Code Editor), by field path.
    pub fn idle_timeouts(&self) -> Vec<(String, i32)> {
        let levels = [
            (
                "jupyterLabAppSettings",
                self.jupyter_lab_app_settings
                    .as_ref()
                    .and_then(|s| s.app_lifecycle_management.as_ref()),
            ),
            (
                "codeEditorAppSettings",
                self.code_editor_app_settings
                    .as_ref()
                    .and_then(|s| s.app_lifecycle_management.as_ref()),
            ),
        ];
        let mut timeouts = Vec::new();
        for (at, management) in levels {
            let Some(idle) = management.and_then(|m| m.idle_settings.as_ref()) else {
                continue;
            };
            let prefix = format!("{at}.appLifecycleManagement.idleSettings");
            for (field, minutes) in [
                ("idleTimeoutInMinutes", idle.idle_timeout_in_minutes),
                ("maxIdleTimeoutInMinutes", idle.max_idle_timeout_in_minutes),
            ] {
                if let Some(minutes) = minutes {
                    timeouts.push((format!("{prefix}.{field}"), minutes));
                }
            }
        }
        timeouts
    }
}

impl DefaultSpaceSettings {
    /// The settings with earlier names folded into the API members.
    pub fn effective(&self) -> DefaultSpaceSettings {
        let mut settings = self.clone();
        if let Some(lab) = settings.jupyter_lab.take() {
            settings.jupyter_lab_app_settings = Some(lab.to_api());
        }
        if let Some(gateway) = settings.kernel_gateway.take() {
            settings.kernel_gateway_app_settings = Some(gateway.to_api());
        }
        if let Some(storage) = settings.space_storage.take() {
            settings.space_storage_settings = Some(storage.to_api());
        }
        settings
    }

    /// Every default resource spec of effective settings, by app settings field.
    pub fn resource_specs(&self) -> Vec<(&'static str, &ResourceSpec)> {
        specs([
            (
                "jupyterServerAppSettings",
                self.jupyter_server_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "kernelGatewayAppSettings",
                self.kernel_gateway_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "jupyterLabAppSettings",
                self.jupyter_lab_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
        ])
    }
}

impl SpaceSettings {
    /// The settings with the shortcuts folded into the members of the space's app type.
    pub fn effective(&self, app_type: SpaceAppType) -> SpaceSettings {
        let mut settings = self.clone();
        let resource_spec = settings.default_resource_spec.take().map(|spec| spec.to_api());
        let idle = settings
            .idle_timeout_minutes
            .take()
            .map(|minutes| SpaceAppLifecycleManagement {
                idle_settings: Some(SpaceIdleSettings {
                    idle_timeout_in_minutes: Some(minutes),
                }),
            });
        if resource_spec.is_some() || idle.is_some() {
            match app_type {
                SpaceAppType::JupyterLab => {
                    let lab = settings.jupyter_lab_app_settings.get_or_insert_default();
                    lab.default_resource_spec = lab.default_resource_spec.take().or(resource_spec);
                    lab.app_lifecycle_management = lab.app_lifecycle_management.take().or(idle);
                }
                SpaceAppType::CodeEditor => {
                    let editor = settings.code_editor_app_settings.get_or_insert_default();
                    editor.default_resource_spec = editor.default_resource_spec.take().or(resource_spec);
                    editor.app_lifecycle_management = editor.app_lifecycle_management.take().or(idle);
                }
            }
        }
        if let Some(gb) = settings.ebs_volume_size_gb.take() {
            settings.space_storage_settings = Some(SpaceStorageSettings {
                ebs_storage_settings: Some(EbsStorageSettings {
                    ebs_volume_size_in_gb: gb,
                }),
            });
        }
        if let Some(file_systems) = settings.custom_file_systems.as_mut() {
            for file_system in file_systems {
                if let Some(id) = file_system.efs_file_system_id.take() {
                    file_system.efs_file_system = Some(EfsFileSystem { file_system_id: id });
                }
            }
        }
        settings
    }

    /// Every default resource spec of effective settings, by app settings field.
    pub fn resource_specs(&self) -> Vec<(&'static str, &ResourceSpec)> {
        specs([
            (
                "jupyterServerAppSettings",
                self.jupyter_server_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "kernelGatewayAppSettings",
                self.kernel_gateway_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "codeEditorAppSettings",
                self.code_editor_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
            (
                "jupyterLabAppSettings",
                self.jupyter_lab_app_settings
                    .as_ref()
                    .and_then(|s| s.default_resource_spec.as_ref()),
            ),
        ])
    }

    /// The idle timeout of effective settings, with its field path.
    pub fn idle_timeout(&self) -> Option<(String, i32)> {
        let lab = self
            .jupyter_lab_app_settings
            .as_ref()
            .and_then(|s| s.app_lifecycle_management.as_ref())
            .map(|m| ("jupyterLabAppSettings", m));
        let editor = self
            .code_editor_app_settings
            .as_ref()
            .and_then(|s| s.app_lifecycle_management.as_ref())
            .map(|m| ("codeEditorAppSettings", m));
        lab.or(editor).and_then(|(at, management)| {
            let minutes = management.idle_settings.as_ref()?.idle_timeout_in_minutes?;
            Some((
                format!("{at}.appLifecycleManagement.idleSettings.idleTimeoutInMinutes"),
                minutes,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The CRD schema node at `path` (`Kind.spec.field.list[].field`), if the CRDs model it.
    fn resolve<'a>(schemas: &'a [(String, Value)], path: &str) -> Option<&'a Value> {
        let mut parts = path.split('.');
        let kind = parts.next()?;
        let mut node = &schemas.iter().find(|(k, _)| k == kind)?.1;
        for part in parts {
            let (name, list) = match part.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (part, false),
            };
            node = node.get("properties")?.get(name)?;
            if list {
                node = node.get("items")?;
            }
        }
        Some(node)
    }

    /// The coverage test of issue 17: every current leaf of `UserSettings`,
    /// `DefaultSpaceSettings`, `SpaceSettings` and `DomainSettings` in the pinned service model
    /// (tests/fixtures/settings/leaves.tsv, written by hack/settings-model/coverage.py) resolves
    /// in the CRD schemas at the path the model maps it to. A member the CRDs model elsewhere is
    /// mapped there by `ROOTS[...]["exclude"]` in settings_model.py, so a new AWS member fails
    /// here until it is generated or mapped. Prints the coverage per shape (`--nocapture`).
    #[test]
    fn every_leaf_of_the_service_model_is_in_the_crds() {
        let schemas: Vec<(String, Value)> = crate::api::all_crds()
            .into_iter()
            .map(|crd| {
                let schema = crd.spec.versions[0]
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref());
                (crd.spec.names.kind, serde_json::to_value(schema).unwrap())
            })
            .collect();
        let leaves = include_str!("../../../tests/fixtures/settings/leaves.tsv");
        let mut per_shape: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        let mut missing = Vec::new();
        for line in leaves.lines().filter(|l| !l.starts_with('#')) {
            let [shape, api, state, crd] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("malformed line {line:?}");
            };
            if state != "current" {
                continue;
            }
            let (modelled, total) = per_shape.entry(shape).or_default();
            *total += 1;
            match resolve(&schemas, crd) {
                Some(_) => *modelled += 1,
                None => missing.push(format!("{shape}.{api} (expected at {crd})")),
            }
        }
        for (shape, (modelled, total)) in &per_shape {
            println!("{shape}: {modelled} of {total} leaf paths modelled");
        }
        assert_eq!(per_shape.len(), 4, "the four settings structures are listed");
        assert!(missing.is_empty(), "not modelled: {missing:#?}");
    }

    #[test]
    fn earlier_names_fold_into_the_api_members() {
        let earlier: UserSettings = serde_json::from_value(json!({
            "executionRole": "arn:aws:iam::123456789012:role/Exec",
            "sharing": {"notebookOutput": "Allowed", "s3OutputPath": "s3://b/p/"},
            "jupyterLab": {
                "defaultResourceSpec": {"instanceType": "ml.t3.medium", "imageArn": "arn:aws:sagemaker:us-east-1:123456789012:image/i"},
                "codeRepositories": [{"url": "https://github.com/example/repo.git"}],
                "idle": {"idleTimeoutMinutes": 120},
            },
            "kernelGateway": {"lifecycleConfigArns": ["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x"]},
            "spaceStorage": {"defaultEbsVolumeSizeGb": 5, "maximumEbsVolumeSizeGb": 100},
        }))
        .unwrap();
        let api: UserSettings = serde_json::from_value(json!({
            "executionRole": "arn:aws:iam::123456789012:role/Exec",
            "sharingSettings": {"notebookOutputOption": "Allowed", "s3OutputPath": "s3://b/p/"},
            "jupyterLabAppSettings": {
                "defaultResourceSpec": {"instanceType": "ml.t3.medium", "sageMakerImageArn": "arn:aws:sagemaker:us-east-1:123456789012:image/i"},
                "codeRepositories": [{"repositoryUrl": "https://github.com/example/repo.git"}],
                "appLifecycleManagement": {"idleSettings": {"lifecycleManagement": "ENABLED", "idleTimeoutInMinutes": 120}},
            },
            "kernelGatewayAppSettings": {"lifecycleConfigArns": ["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x"]},
            "spaceStorageSettings": {"defaultEbsStorageSettings": {"defaultEbsVolumeSizeInGb": 5, "maximumEbsVolumeSizeInGb": 100}},
        }))
        .unwrap();
        assert_eq!(earlier.effective(), api);
        assert_eq!(api.effective(), api, "API members stay as they are");
        assert_eq!(
            document(&earlier.effective())["JupyterLabAppSettings"]["CodeRepositories"],
            json!([{"RepositoryUrl": "https://github.com/example/repo.git"}])
        );
    }

    #[test]
    fn space_shortcuts_fill_the_members_of_the_app_type() {
        let settings: SpaceSettings = serde_json::from_value(json!({
            "defaultResourceSpec": {"instanceType": "ml.t3.large"},
            "ebsVolumeSizeGb": 20,
            "idleTimeoutMinutes": 90,
            "customFileSystems": [{"efsFileSystemId": "fs-0123456789abcdef0"}, {"s3FileSystem": {"s3Uri": "s3://b/p"}}],
            "remoteAccess": "DISABLED",
        }))
        .unwrap();
        let editor = document(&settings.effective(SpaceAppType::CodeEditor));
        assert_eq!(
            serde_json::Value::Object(editor),
            json!({
                "CodeEditorAppSettings": {
                    "DefaultResourceSpec": {"InstanceType": "ml.t3.large"},
                    "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 90}},
                },
                "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 20}},
                "CustomFileSystems": [
                    {"EFSFileSystem": {"FileSystemId": "fs-0123456789abcdef0"}},
                    {"S3FileSystem": {"S3Uri": "s3://b/p"}},
                ],
                "RemoteAccess": "DISABLED",
            })
        );
        let lab = settings.effective(SpaceAppType::JupyterLab);
        assert!(lab.code_editor_app_settings.is_none());
        assert_eq!(lab.resource_specs()[0].0, "jupyterLabAppSettings");
        assert_eq!(
            lab.idle_timeout(),
            Some((
                "jupyterLabAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes".into(),
                90
            ))
        );
    }

    #[test]
    fn levels_list_their_resource_specs_and_timeouts() {
        let settings: UserSettings = serde_json::from_value(json!({
            "tensorBoardAppSettings": {"defaultResourceSpec": {"instanceType": "ml.t3.medium"}},
            "codeEditor": {"defaultResourceSpec": {"instanceType": "ml.g5.xlarge"}, "idle": {"idleTimeoutMinutes": 600}},
        }))
        .unwrap();
        let effective = settings.effective();
        let found: Vec<_> = effective
            .resource_specs()
            .into_iter()
            .map(|(at, spec)| (at, spec.instance_type.map(AppInstanceType::as_str)))
            .collect();
        assert_eq!(
            found,
            [
                ("tensorBoardAppSettings", Some("ml.t3.medium")),
                ("codeEditorAppSettings", Some("ml.g5.xlarge"))
            ]
        );
        assert_eq!(
            effective.idle_timeouts(),
            [(
                "codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes".to_string(),
                600
            )]
        );
    }
}
