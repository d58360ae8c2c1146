//! SageMaker images, image versions, aliases and app image configs (custom Studio images):
//! lifecycles on the emulated clock, validation from the model, idempotent version creation,
//! tags and the tag index, and the referential rules with a domain's CustomImages.

use std::time::Duration;

use aws_sdk_resourcegroupstagging::Client as TaggingClient;
use aws_sdk_sagemaker::client::Waiters;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    CodeEditorAppImageConfig, ContainerConfig, CustomImage, FileSystemConfig, ImageStatus, ImageVersionSortBy,
    ImageVersionStatus, JobType, JupyterLabAppImageConfig, JupyterLabAppSettings, KernelGatewayImageConfig, KernelSpec,
    Processor,
};

use super::*;

const ECR_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/lab:1.0";

/// Code and message of a failed call.
fn service_error(err: impl ProvideErrorMetadata) -> (String, String) {
    (
        err.code().unwrap_or_default().to_string(),
        err.message().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn images_versions_and_aliases() {
    let emu = Emulator::start(Config::default()).await.unwrap();
    let c = clients(&emu).await;

    let arn =
        c.sm.create_image()
            .image_name("Team-Image")
            .role_arn(ROLE)
            .display_name("Team image")
            .description("JupyterLab with the team's tools")
            .tags(tag("team", "ml"))
            .send()
            .await
            .unwrap()
            .image_arn()
            .unwrap()
            .to_string();
    assert_eq!(arn, "arn:aws:sagemaker:us-east-1:123456789012:image/team-image");
    let describe = || c.sm.describe_image().image_name("team-image").send();
    let d = describe().await.unwrap();
    assert_eq!(d.image_status(), Some(&ImageStatus::Creating));
    assert_eq!(d.image_name(), Some("Team-Image"));
    assert_eq!(d.role_arn(), Some(ROLE));
    let (code, message) = service_error(
        c.sm.create_image()
            .image_name("team-image")
            .role_arn(ROLE)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceInUse");
    assert_eq!(
        message,
        "The Image with ImageName team-image already exists. Please use a different ImageName."
    );
    let (code, message) = service_error(
        c.sm.create_image()
            .image_name("-bad")
            .role_arn("arn:aws:iam::123:user/x")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    assert!(message.starts_with("2 validation errors detected"), "{message}");
    assert!(
        message.contains("'imageName'") && message.contains("'roleArn'"),
        "{message}"
    );
    let (code, message) = service_error(
        c.sm.create_image_version()
            .image_name("team-image")
            .base_image(ECR_IMAGE)
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "Image Team-Image is in an invalid state.");

    emu.advance(1.5);
    c.sm.wait_until_image_created()
        .image_name("team-image")
        .wait(Duration::from_secs(5))
        .await
        .unwrap();

    // Versions: numbered from 1, idempotent per ClientToken, CREATING -> CREATED.
    let v1 =
        c.sm.create_image_version()
            .image_name("team-image")
            .base_image(ECR_IMAGE)
            .client_token("token-1")
            .aliases("stable")
            .aliases("v1")
            .job_type(JobType::NotebookKernel)
            .processor(Processor::Cpu)
            .ml_framework("PyTorch 2.3")
            .programming_lang("Python 3.12")
            .horovod(false)
            .release_notes("First")
            .send()
            .await
            .unwrap()
            .image_version_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        v1,
        "arn:aws:sagemaker:us-east-1:123456789012:image-version/team-image/1"
    );
    let again =
        c.sm.create_image_version()
            .image_name("team-image")
            .base_image(ECR_IMAGE)
            .client_token("token-1")
            .send()
            .await
            .unwrap();
    assert_eq!(
        again.image_version_arn(),
        Some(v1.as_str()),
        "same ClientToken, same version"
    );
    let (code, _) = service_error(
        c.sm.create_image_version()
            .image_name("team-image")
            .base_image(ECR_IMAGE)
            .aliases("v1")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException", "alias taken by version 1");
    let version = |v: i32| c.sm.describe_image_version().image_name("team-image").version(v).send();
    let d = version(1).await.unwrap();
    assert_eq!(d.image_version_status(), Some(&ImageVersionStatus::Creating));
    assert!(d.container_image().is_none());
    emu.advance(1.5);
    let d =
        c.sm.describe_image_version()
            .image_name("team-image")
            .alias("v1")
            .send()
            .await
            .unwrap();
    assert_eq!(d.version(), Some(1));
    assert_eq!(d.image_version_status(), Some(&ImageVersionStatus::Created));
    assert_eq!(d.job_type(), Some(&JobType::NotebookKernel));
    assert_eq!(d.ml_framework(), Some("PyTorch 2.3"));
    assert_eq!(d.horovod(), Some(false));
    let container = d.container_image().unwrap();
    assert!(
        container.starts_with("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/lab@sha256:"),
        "{container}"
    );

    // A base image that is not in ECR fails asynchronously.
    c.sm.create_image_version()
        .image_name("team-image")
        .base_image("docker.io/library/python:3.12")
        .send()
        .await
        .unwrap();
    emu.advance(1.5);
    let failed =
        c.sm.describe_image_version()
            .image_name("team-image")
            .send()
            .await
            .unwrap();
    assert_eq!(failed.version(), Some(2), "the latest version");
    assert_eq!(failed.image_version_status(), Some(&ImageVersionStatus::CreateFailed));
    assert!(
        failed
            .failure_reason()
            .unwrap()
            .contains("docker.io/library/python:3.12")
    );
    let err =
        c.sm.wait_until_image_version_created()
            .image_name("team-image")
            .version(2)
            .wait(Duration::from_secs(5))
            .await;
    assert!(err.is_err(), "the waiter's CREATE_FAILED acceptor fails");
    c.sm.create_image_version()
        .image_name("team-image")
        .base_image(ECR_IMAGE.replace(":1.0", ":2.0"))
        .send()
        .await
        .unwrap();
    emu.advance(1.5);

    // Aliases move with UpdateImageVersion; ListAliases shows them per version.
    let (code, _) = service_error(
        c.sm.update_image_version()
            .image_name("team-image")
            .version(3)
            .aliases_to_add("v1")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    c.sm.update_image_version()
        .image_name("team-image")
        .alias("v1")
        .aliases_to_delete("stable")
        .release_notes("First, reviewed")
        .send()
        .await
        .unwrap();
    c.sm.update_image_version()
        .image_name("team-image")
        .version(3)
        .aliases_to_add("stable")
        .send()
        .await
        .unwrap();
    let aliases = |v: Option<i32>| {
        let mut call = c.sm.list_aliases().image_name("team-image");
        if let Some(v) = v {
            call = call.version(v);
        }
        call.send()
    };
    assert_eq!(
        aliases(None).await.unwrap().sage_maker_image_version_aliases(),
        ["v1", "stable"]
    );
    assert_eq!(
        aliases(Some(3)).await.unwrap().sage_maker_image_version_aliases(),
        ["stable"]
    );
    assert_eq!(service_error(aliases(Some(9)).await.unwrap_err()).0, "ResourceNotFound");
    assert_eq!(version(1).await.unwrap().release_notes(), Some("First, reviewed"));
    let (code, message) = service_error(version(7).await.unwrap_err());
    assert_eq!(code, "ResourceNotFound");
    assert_eq!(
        message,
        "ImageVersion with ImageName Team-Image and Version 7 does not exist."
    );

    let listed =
        c.sm.list_image_versions()
            .image_name("team-image")
            .send()
            .await
            .unwrap();
    let numbers: Vec<i32> = listed.image_versions().iter().filter_map(|v| v.version()).collect();
    assert_eq!(numbers, [3, 2, 1], "CREATION_TIME DESCENDING by default");
    let by_version: Vec<i32> =
        c.sm.list_image_versions()
            .image_name("team-image")
            .sort_by(ImageVersionSortBy::Version)
            .sort_order(aws_sdk_sagemaker::types::ImageVersionSortOrder::Ascending)
            .max_results(2)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap()
            .iter()
            .filter_map(|v| v.version())
            .collect();
    assert_eq!(by_version, [1, 2, 3]);

    // UpdateImage: Updating -> Created; DeleteProperties removes a property.
    c.sm.update_image()
        .image_name("team-image")
        .display_name("Team image v2")
        .delete_properties("Description")
        .send()
        .await
        .unwrap();
    assert_eq!(describe().await.unwrap().image_status(), Some(&ImageStatus::Updating));
    emu.advance(1.5);
    let d = describe().await.unwrap();
    assert_eq!(d.image_status(), Some(&ImageStatus::Created));
    assert_eq!(d.display_name(), Some("Team image v2"));
    assert!(d.description().is_none());
    let names: Vec<String> =
        c.sm.list_images()
            .name_contains("Team")
            .send()
            .await
            .unwrap()
            .images()
            .iter()
            .filter_map(|i| i.image_name().map(String::from))
            .collect();
    assert_eq!(names, ["Team-Image"]);

    // Tags on images: the SageMaker tag API and the tag index.
    c.sm.add_tags()
        .resource_arn(&arn)
        .tags(tag("env", "dev"))
        .send()
        .await
        .unwrap();
    let tags = c.sm.list_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(tags.tags().len(), 2);
    let tagging = TaggingClient::new(&sdk_config(&emu, "AKIATESTTESTTEST", "test", None).await);
    let indexed = tagging
        .get_resources()
        .resource_type_filters("sagemaker:image")
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = indexed
        .resource_tag_mapping_list()
        .iter()
        .filter_map(|m| m.resource_arn())
        .collect();
    assert_eq!(arns, [arn.as_str()]);

    // Deleting a version, then the image with its versions.
    c.sm.delete_image_version()
        .image_name("team-image")
        .version(2)
        .send()
        .await
        .unwrap();
    emu.advance(1.5);
    assert_eq!(service_error(version(2).await.unwrap_err()).0, "ResourceNotFound");
    let (code, _) = service_error(
        c.sm.delete_image_version()
            .image_name("team-image")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException", "Version or Alias is needed");
    c.sm.delete_image().image_name("team-image").send().await.unwrap();
    assert_eq!(describe().await.unwrap().image_status(), Some(&ImageStatus::Deleting));
    emu.advance(1.5);
    assert_eq!(service_error(describe().await.unwrap_err()).0, "ResourceNotFound");
    // aws-sdk-sagemaker's deletion waiters expect the code ResourceNotFoundException, but the
    // service model (and botocore's waiters) name it ResourceNotFound: they end in failure.
    let waited =
        c.sm.wait_until_image_deleted()
            .image_name("team-image")
            .wait(Duration::from_secs(5))
            .await
            .unwrap_err();
    assert_eq!(service_error(waited).0, "ResourceNotFound");
    assert_eq!(service_error(version(1).await.unwrap_err()).0, "ResourceNotFound");
    assert!(c.sm.list_images().send().await.unwrap().images().is_empty());
}

#[tokio::test]
async fn app_image_configs_and_custom_images_attached_to_a_domain() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    let file_system = |uid: i32, gid: i32| {
        FileSystemConfig::builder()
            .mount_path("/home/sagemaker-user")
            .default_uid(uid)
            .default_gid(gid)
            .build()
    };
    let lab = JupyterLabAppImageConfig::builder()
        .file_system_config(file_system(1000, 100))
        .container_config(
            ContainerConfig::builder()
                .container_arguments("--ServerApp.base_url=/lab")
                .container_entrypoint("jupyter-lab")
                .container_environment_variables("TEAM", "ml")
                .build(),
        )
        .build();
    let config_arn =
        c.sm.create_app_image_config()
            .app_image_config_name("team-config")
            .jupyter_lab_app_image_config(lab.clone())
            .tags(tag("team", "ml"))
            .send()
            .await
            .unwrap()
            .app_image_config_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        config_arn,
        "arn:aws:sagemaker:us-east-1:123456789012:app-image-config/team-config"
    );
    let d =
        c.sm.describe_app_image_config()
            .app_image_config_name("team-config")
            .send()
            .await
            .unwrap();
    let fs = d.jupyter_lab_app_image_config().unwrap().file_system_config().unwrap();
    assert_eq!((fs.default_uid(), fs.default_gid()), (Some(1000), Some(100)));
    let env = d
        .jupyter_lab_app_image_config()
        .and_then(|j| j.container_config())
        .and_then(|c| c.container_environment_variables())
        .unwrap();
    assert_eq!(env.get("TEAM").map(String::as_str), Some("ml"));

    let create = |name: &str| c.sm.create_app_image_config().app_image_config_name(name);
    let (code, _) = service_error(create("team-config").send().await.unwrap_err());
    assert_eq!(code, "ResourceInUse");
    let (code, message) = service_error(
        create("bad-ids")
            .code_editor_app_image_config(
                CodeEditorAppImageConfig::builder()
                    .file_system_config(file_system(1001, 100))
                    .build(),
            )
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("codeEditorAppImageConfig.fileSystemConfig.defaultUid"),
        "{message}"
    );
    let (code, _) = service_error(
        create("two-kinds")
            .jupyter_lab_app_image_config(lab.clone())
            .code_editor_app_image_config(CodeEditorAppImageConfig::builder().build())
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    let (code, message) = service_error(
        create("two-entrypoints")
            .jupyter_lab_app_image_config(
                JupyterLabAppImageConfig::builder()
                    .container_config(
                        ContainerConfig::builder()
                            .container_entrypoint("a")
                            .container_entrypoint("b")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("'jupyterLabAppImageConfig.containerConfig.containerEntrypoint' failed to satisfy constraint: Member must have length less than or equal to 1"),
        "{message}"
    );
    create("kernels")
        .kernel_gateway_image_config(
            KernelGatewayImageConfig::builder()
                .kernel_specs(KernelSpec::builder().name("python3").display_name("Python 3").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.sm.update_app_image_config()
        .app_image_config_name("kernels")
        .code_editor_app_image_config(CodeEditorAppImageConfig::builder().build())
        .send()
        .await
        .unwrap();
    let updated =
        c.sm.describe_app_image_config()
            .app_image_config_name("kernels")
            .send()
            .await
            .unwrap();
    assert!(updated.kernel_gateway_image_config().is_none() && updated.code_editor_app_image_config().is_some());
    let listed: Vec<String> =
        c.sm.list_app_image_configs()
            .send()
            .await
            .unwrap()
            .app_image_configs()
            .iter()
            .filter_map(|a| a.app_image_config_name().map(String::from))
            .collect();
    assert_eq!(listed, ["kernels", "team-config"], "CreationTime Descending by default");
    let tagging = TaggingClient::new(&sdk_config(&emu, "AKIATESTTESTTEST", "test", None).await);
    let indexed = tagging
        .get_resources()
        .resource_type_filters("sagemaker:app-image-config")
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.resource_tag_mapping_list().len(), 1);

    // Attached through a domain's CustomImages: the image, the pinned version and the
    // config cannot be deleted until the domain lets go of them.
    c.sm.create_image()
        .image_name("team-image")
        .role_arn(ROLE)
        .send()
        .await
        .unwrap();
    for tag_name in ["1.0", "2.0"] {
        c.sm.create_image_version()
            .image_name("team-image")
            .base_image(ECR_IMAGE.replace("1.0", tag_name))
            .send()
            .await
            .unwrap();
    }
    let attach = |images: Vec<CustomImage>| {
        UserSettings::builder()
            .execution_role(ROLE)
            .jupyter_lab_app_settings(JupyterLabAppSettings::builder().set_custom_images(Some(images)).build())
            .build()
    };
    let pinned = CustomImage::builder()
        .image_name("team-image")
        .image_version_number(1)
        .app_image_config_name("team-config")
        .build();
    let id = create_domain(&c.sm, "custom")
        .default_user_settings(attach(vec![pinned]))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    let in_use = |code: &str| assert_eq!(code, "ResourceInUse");
    in_use(&service_error(c.sm.delete_image().image_name("team-image").send().await.unwrap_err()).0);
    in_use(
        &service_error(
            c.sm.delete_image_version()
                .image_name("team-image")
                .version(1)
                .send()
                .await
                .unwrap_err(),
        )
        .0,
    );
    in_use(
        &service_error(
            c.sm.delete_app_image_config()
                .app_image_config_name("team-config")
                .send()
                .await
                .unwrap_err(),
        )
        .0,
    );
    c.sm.delete_image_version()
        .image_name("team-image")
        .version(2)
        .send()
        .await
        .unwrap();
    c.sm.update_domain()
        .domain_id(&id)
        .default_user_settings(attach(Vec::new()))
        .send()
        .await
        .unwrap();
    c.sm.delete_app_image_config()
        .app_image_config_name("team-config")
        .send()
        .await
        .unwrap();
    c.sm.delete_image().image_name("team-image").send().await.unwrap();
    let (code, _) = service_error(
        c.sm.describe_app_image_config()
            .app_image_config_name("team-config")
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(code, "ResourceNotFound");
    assert!(c.sm.list_images().send().await.unwrap().images().is_empty());
}
