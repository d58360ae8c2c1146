//! The mapping between the SDK's settings structures and [`Document`]s. It goes through the SDK's
//! own JSON codec (the schema-based serialization of aws-smithy-json, member names as on the
//! wire), so every member the SDK knows is carried both ways, with no member named here.

use aws_sdk_sagemaker::types as sm;
use aws_smithy_json::codec::{JsonCodec, JsonCodecSettings};
use aws_smithy_schema::codec::Codec;
use aws_smithy_schema::serde::{SerdeError, SerializableStruct, ShapeDeserializer, ShapeSerializer};

use crate::aws::error::AwsError;
use crate::aws::model::Document;

/// `DomainSettingsForUpdate` names the RStudio member differently from `DomainSettings`.
const RSTUDIO: (&str, &str) = (
    "RStudioServerProDomainSettings",
    "RStudioServerProDomainSettingsForUpdate",
);

fn codec() -> JsonCodec {
    JsonCodec::new(JsonCodecSettings::builder().use_json_name(false).build())
}

/// An SDK structure as a document. Fails only for what the SDK itself cannot represent (a union
/// member newer than the SDK).
pub(super) fn document<T: SerializableStruct>(value: &T) -> Result<Document, AwsError> {
    let unsupported = |error: String| AwsError::Other {
        code: "UnsupportedShape".into(),
        message: format!(
            "{} returned by AWS cannot be read: {error}",
            value.schema().shape_id().shape_name()
        ),
    };
    let mut serializer = codec().create_serializer();
    serializer
        .write_struct(value.schema(), value)
        .map_err(|e| unsupported(e.to_string()))?;
    serde_json::from_slice(&serializer.finish()).map_err(|e| unsupported(e.to_string()))
}

/// A document as an SDK structure (`read` is the structure's `deserialize`). A document that does
/// not fit the structure is a validation error: the spec (or the carried-over state) asks for
/// something the API cannot take.
pub(super) fn structure<T>(
    document: &Document,
    read: impl FnOnce(&mut dyn ShapeDeserializer) -> Result<T, SerdeError>,
) -> Result<T, AwsError> {
    let bytes = serde_json::to_vec(document).expect("a JSON object always serialises");
    let mut deserializer = codec().create_deserializer(&bytes);
    read(&mut deserializer).map_err(|e| AwsError::Validation {
        message: format!("settings do not fit the API's structure: {e}"),
    })
}

/// `UserSettings` of a document.
pub(super) fn user_settings(document: &Document) -> Result<sm::UserSettings, AwsError> {
    structure(document, sm::UserSettings::deserialize)
}

/// `DefaultSpaceSettings` of a document; `None` for an empty one.
pub(super) fn default_space_settings(document: &Document) -> Result<Option<sm::DefaultSpaceSettings>, AwsError> {
    if document.is_empty() {
        return Ok(None);
    }
    structure(document, sm::DefaultSpaceSettings::deserialize).map(Some)
}

/// `SpaceSettings` of a document; without `AppType` for an update (AWS refuses any).
pub(super) fn space_settings(document: &Document, with_app_type: bool) -> Result<sm::SpaceSettings, AwsError> {
    let mut document = document.clone();
    if !with_app_type {
        document.remove("AppType");
    }
    structure(&document, sm::SpaceSettings::deserialize)
}

/// `DomainSettings` of a document; `None` for an empty one.
pub(super) fn domain_settings(document: &Document) -> Result<Option<sm::DomainSettings>, AwsError> {
    if document.is_empty() {
        return Ok(None);
    }
    structure(document, sm::DomainSettings::deserialize).map(Some)
}

/// `DomainSettingsForUpdate` of a document in `DomainSettings`' member names.
pub(super) fn domain_settings_for_update(document: &Document) -> Result<sm::DomainSettingsForUpdate, AwsError> {
    let mut document = document.clone();
    if let Some(rstudio) = document.remove(RSTUDIO.0) {
        document.insert(RSTUDIO.1.into(), rstudio);
    }
    structure(&document, sm::DomainSettingsForUpdate::deserialize)
}

/// A Describe call's optional structure as a document (empty when absent).
pub(super) fn observed<T: SerializableStruct>(value: Option<&T>) -> Result<Document, AwsError> {
    value.map(document).transpose().map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn doc(value: Value) -> Document {
        value.as_object().unwrap().clone()
    }

    /// Every member of UserSettings, filled: the SDK carries each one both ways.
    fn every_user_setting() -> Document {
        let spec = json!({
            "SageMakerImageArn": "arn:aws:sagemaker:us-east-1:123456789012:image/i",
            "SageMakerImageVersionArn": "arn:aws:sagemaker:us-east-1:123456789012:image-version/i/1",
            "SageMakerImageVersionAlias": "1.2.3",
            "InstanceType": "ml.t3.medium",
            "LifecycleConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/l",
            "TrainingPlanArn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p",
        });
        let images = json!([{"ImageName": "i", "ImageVersionNumber": 2, "AppImageConfigName": "c"}]);
        let lcc = json!(["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/l"]);
        let idle = json!({"IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120,
            "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": 240}});
        let role = "arn:aws:iam::123456789012:role/R";
        doc(json!({
            "ExecutionRole": role,
            "SecurityGroups": ["sg-1"],
            "SharingSettings": {"NotebookOutputOption": "Allowed", "S3OutputPath": "s3://b/p", "S3KmsKeyId": "k"},
            "JupyterServerAppSettings": {"DefaultResourceSpec": spec, "LifecycleConfigArns": lcc,
                "CodeRepositories": [{"RepositoryUrl": "https://github.com/a/b"}]},
            "KernelGatewayAppSettings": {"DefaultResourceSpec": spec, "CustomImages": images, "LifecycleConfigArns": lcc},
            "TensorBoardAppSettings": {"DefaultResourceSpec": spec},
            "RStudioServerProAppSettings": {"AccessStatus": "ENABLED", "UserGroup": "R_STUDIO_USER"},
            "RSessionAppSettings": {"DefaultResourceSpec": spec, "CustomImages": images},
            "CanvasAppSettings": {
                "TimeSeriesForecastingSettings": {"Status": "ENABLED", "AmazonForecastRoleArn": role},
                "ModelRegisterSettings": {"Status": "ENABLED", "CrossAccountModelRegisterRoleArn": role},
                "WorkspaceSettings": {"S3ArtifactPath": "s3://b/c", "S3KmsKeyId": "k"},
                "IdentityProviderOAuthSettings": [{"DataSourceName": "Snowflake", "Status": "ENABLED",
                    "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"}],
                "DirectDeploySettings": {"Status": "DISABLED"},
                "KendraSettings": {"Status": "DISABLED"},
                "GenerativeAiSettings": {"AmazonBedrockRoleArn": role},
                "EmrServerlessSettings": {"ExecutionRoleArn": role, "Status": "ENABLED"},
            },
            "CodeEditorAppSettings": {"DefaultResourceSpec": spec, "CustomImages": images, "LifecycleConfigArns": lcc,
                "AppLifecycleManagement": idle, "BuiltInLifecycleConfigArn": lcc[0]},
            "JupyterLabAppSettings": {"DefaultResourceSpec": spec, "CustomImages": images, "LifecycleConfigArns": lcc,
                "CodeRepositories": [{"RepositoryUrl": "https://github.com/a/b"}], "AppLifecycleManagement": idle,
                "EmrSettings": {"AssumableRoleArns": [role], "ExecutionRoleArns": [role]},
                "BuiltInLifecycleConfigArn": lcc[0]},
            "SpaceStorageSettings": {"DefaultEbsStorageSettings": {"DefaultEbsVolumeSizeInGb": 5, "MaximumEbsVolumeSizeInGb": 100}},
            "DefaultLandingUri": "studio::",
            "StudioWebPortal": "ENABLED",
            "CustomPosixUserConfig": {"Uid": 10000, "Gid": 1001},
            "CustomFileSystemConfigs": [
                {"EFSFileSystemConfig": {"FileSystemId": "fs-0123456789abcdef0", "FileSystemPath": "/team"}},
                {"FSxLustreFileSystemConfig": {"FileSystemId": "fs-0123456789abcdef1", "FileSystemPath": "/"}},
                {"S3FileSystemConfig": {"MountPath": "/data", "S3Uri": "s3://b/d"}},
            ],
            "StudioWebPortalSettings": {"HiddenMlTools": ["Comet"], "HiddenAppTypes": ["Canvas"],
                "HiddenInstanceTypes": ["ml.p4d.24xlarge"],
                "HiddenSageMakerImageVersionAliases": [{"SageMakerImageName": "sagemaker_distribution", "VersionAliases": ["1.2"]}],
                "ExecutionRoleSessionNameMode": "USER_IDENTITY"},
            "AutoMountHomeEFS": "Disabled",
        }))
    }

    #[test]
    fn every_user_setting_survives_the_sdk_both_ways() {
        let settings = every_user_setting();
        assert_eq!(document(&user_settings(&settings).unwrap()).unwrap(), settings);
    }

    #[test]
    fn space_and_domain_settings_survive_the_sdk_both_ways() {
        let space = doc(json!({
            "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.large"},
                "CodeRepositories": [{"RepositoryUrl": "https://github.com/a/b"}],
                "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 90}}},
            "AppType": "JupyterLab",
            "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 20}},
            "SpaceManagedResources": "ENABLED",
            "CustomFileSystems": [{"EFSFileSystem": {"FileSystemId": "fs-0123456789abcdef0"}},
                {"S3FileSystem": {"S3Uri": "s3://b/p"}}],
            "RemoteAccess": "DISABLED",
        }));
        assert_eq!(document(&space_settings(&space, true).unwrap()).unwrap(), space);
        let update = document(&space_settings(&space, false).unwrap()).unwrap();
        assert!(!update.contains_key("AppType"), "AppType is never updated");

        let domain = doc(json!({
            "SecurityGroupIds": ["sg-1"],
            "RStudioServerProDomainSettings": {"DomainExecutionRoleArn": "arn:aws:iam::123456789012:role/R",
                "RStudioConnectUrl": "https://c", "DefaultResourceSpec": {"InstanceType": "system"}},
            "ExecutionRoleIdentityConfig": "USER_PROFILE_NAME",
            "TrustedIdentityPropagationSettings": {"Status": "ENABLED"},
            "DockerSettings": {"EnableDockerAccess": "ENABLED", "VpcOnlyTrustedAccounts": ["123456789012"], "RootlessDocker": "ENABLED"},
            "AmazonQSettings": {"Status": "ENABLED", "QProfileArn": "arn:aws:codewhisperer:us-east-1:123456789012:profile/p"},
            "IpAddressType": "dualstack",
        }));
        assert_eq!(document(&domain_settings(&domain).unwrap().unwrap()).unwrap(), domain);
        let for_update = document(&domain_settings_for_update(&domain).unwrap()).unwrap();
        assert_eq!(
            for_update["RStudioServerProDomainSettingsForUpdate"]["DomainExecutionRoleArn"],
            "arn:aws:iam::123456789012:role/R"
        );
        assert_eq!(default_space_settings(&Document::new()).unwrap(), None);
    }

    #[test]
    fn a_document_that_does_not_fit_is_a_validation_error() {
        let wrong = doc(json!({"SecurityGroups": "sg-1"}));
        assert!(matches!(user_settings(&wrong), Err(AwsError::Validation { .. })));
        let wrong = doc(json!({"DockerSettings": {"VpcOnlyTrustedAccounts": [12]}}));
        assert!(matches!(domain_settings(&wrong), Err(AwsError::Validation { .. })));
    }

    #[test]
    fn an_absent_structure_is_an_empty_document() {
        assert_eq!(observed::<sm::UserSettings>(None).unwrap(), Document::new());
    }
}
