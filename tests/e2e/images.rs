//! StudioImage end to end: an Image with versions, aliases and its AppImageConfig; drift made in
//! the console corrected; an Image of the same name made outside left alone; deletion with
//! `Delete` and `Retain`; version removal refused by the CRD.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{StudioImage, StudioImageStatus};

use crate::domain::{Setup, setup};
use crate::profile::{apply, tags_of, wait_for, wait_gone};
use crate::support::wait::{self, has};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/lab";

fn image_manifest(name: &str, policy: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioImage",
        "metadata": {"name": name},
        "spec": {
            "aws": {"region": "us-east-1"},
            "roleArn": "arn:aws:iam::123456789012:role/ImagePull",
            "displayName": "Team lab",
            "appType": "JupyterLab",
            "versions": [
                {"baseImage": format!("{ECR}:1"), "aliases": ["stable"]},
                {"baseImage": format!("{ECR}:2"), "aliases": ["latest"]},
            ],
            "fileSystemConfig": {"defaultUid": 1000, "defaultGid": 100},
            "deletionPolicy": policy,
        }
    })
}

async fn wait_image(api: &Api<StudioImage>, name: &str, type_: &str, status: &str) -> StudioImageStatus {
    wait_for(api, name, &format!("{type_}={status}"), |i| {
        let st = i.status.clone()?;
        (st.observed_generation == i.metadata.generation && has(&st.conditions, type_, status)).then_some(st)
    })
    .await
}

async fn aliases(s: &Setup, image: &str, version: i32) -> Vec<String> {
    let out = s
        .sagemaker
        .list_aliases()
        .image_name(image)
        .version(version)
        .send()
        .await
        .unwrap();
    out.sage_maker_image_version_aliases().to_vec()
}

async fn uid_gid(s: &Setup, config: &str) -> (Option<i32>, Option<i32>) {
    let out = s
        .sagemaker
        .describe_app_image_config()
        .app_image_config_name(config)
        .send()
        .await
        .unwrap();
    let fs = out.jupyter_lab_app_image_config().and_then(|c| c.file_system_config());
    (fs.and_then(|f| f.default_uid()), fs.and_then(|f| f.default_gid()))
}

#[tokio::test]
async fn an_image_with_versions_becomes_ready_and_console_drift_is_corrected() {
    let s = setup("img-ready").await;
    let images: Api<StudioImage> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut manifest = image_manifest("lab", "Delete");
    apply(&images, "lab", &manifest).await;
    let status = wait_image(&images, "lab", "Ready", "True").await;
    let name = format!("{}-lab", s.namespace.name);
    assert_eq!(status.image_name.as_deref(), Some(name.as_str()));
    assert_eq!(status.app_image_config_name.as_deref(), Some(name.as_str()));
    assert_eq!(status.latest_version, Some(2));
    let listed: Vec<(i32, Vec<String>)> = status.versions.iter().map(|v| (v.version, v.aliases.clone())).collect();
    assert_eq!(
        listed,
        [(1, vec!["stable".to_string()]), (2, vec!["latest".to_string()])]
    );
    assert_eq!(aliases(&s, &name, 1).await, ["stable"]);
    assert_eq!(aliases(&s, &name, 2).await, ["latest"]);
    assert_eq!(uid_gid(&s, &name).await, (Some(1000), Some(100)));
    let tags = tags_of(&s, status.image_arn.as_deref().unwrap()).await;
    assert!(tags.iter().any(|(k, _)| k == "studio-operator.io/uid"), "{tags:?}");

    // Made in the console: an extra alias, and another UID/GID.
    s.sagemaker
        .update_image_version()
        .image_name(&name)
        .version(1)
        .aliases_to_add("console")
        .send()
        .await
        .unwrap();
    let root = aws_sdk_sagemaker::types::FileSystemConfig::builder()
        .default_uid(0)
        .default_gid(0)
        .build();
    let config = aws_sdk_sagemaker::types::JupyterLabAppImageConfig::builder()
        .file_system_config(root)
        .build();
    s.sagemaker
        .update_app_image_config()
        .app_image_config_name(&name)
        .jupyter_lab_app_image_config(config)
        .send()
        .await
        .unwrap();
    wait::until("drift corrected", Duration::from_secs(60), || async {
        let seen = (aliases(&s, &name, 1).await, uid_gid(&s, &name).await);
        let events = s.events("DriftCorrected").await.len();
        (seen == (vec!["stable".to_string()], (Some(1000), Some(100))) && events >= 2)
            .then_some(())
            .ok_or((seen, events))
    })
    .await;

    // Versions can only be appended.
    manifest["spec"]["versions"] = json!([{"baseImage": format!("{ECR}:1")}]);
    let refused = images
        .patch("lab", &PatchParams::apply("e2e-test").force(), &Patch::Apply(&manifest))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("versions can only be added"), "{refused}");
}

#[tokio::test]
async fn an_image_made_outside_is_never_updated_or_deleted() {
    let s = setup("img-conflict").await;
    let images: Api<StudioImage> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let name = format!("{}-lab", s.namespace.name);
    s.sagemaker
        .create_image()
        .image_name(&name)
        .role_arn("arn:aws:iam::123456789012:role/Console")
        .send()
        .await
        .unwrap();
    apply(&images, "lab", &image_manifest("lab", "Delete")).await;
    let status = wait_image(&images, "lab", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "Conflict");
    assert!(stalled.message.contains(&name), "{}", stalled.message);
    images.delete("lab", &DeleteParams::default()).await.unwrap();
    wait_gone(&images, "lab").await;
    for operation in [
        "UpdateImage",
        "DeleteImage",
        "CreateImageVersion",
        "CreateAppImageConfig",
    ] {
        assert_eq!(s.control().count(operation, None), 0, "{operation}");
    }
    let held = s.sagemaker.describe_image().image_name(&name).send().await.unwrap();
    assert_eq!(held.role_arn(), Some("arn:aws:iam::123456789012:role/Console"));
}

#[tokio::test]
async fn deletion_removes_the_image_or_retains_it_untagged() {
    let s = setup("img-delete").await;
    let images: Api<StudioImage> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&images, "gone", &image_manifest("gone", "Delete")).await;
    apply(&images, "kept", &image_manifest("kept", "Retain")).await;
    wait_image(&images, "gone", "Ready", "True").await;
    let kept = wait_image(&images, "kept", "Ready", "True").await;
    for name in ["gone", "kept"] {
        images.delete(name, &DeleteParams::default()).await.unwrap();
    }
    wait_gone(&images, "gone").await;
    wait_gone(&images, "kept").await;
    let gone = format!("{}-gone", s.namespace.name);
    let image = s.sagemaker.describe_image().image_name(&gone).send().await;
    assert!(image.is_err(), "{image:?}");
    let config = s
        .sagemaker
        .describe_app_image_config()
        .app_image_config_name(&gone)
        .send()
        .await;
    assert!(config.is_err(), "{config:?}");
    let retained = format!("{}-kept", s.namespace.name);
    assert_eq!(aliases(&s, &retained, 2).await, ["latest"]);
    let tags = tags_of(&s, kept.image_arn.as_deref().unwrap()).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("studio-operator.io/")),
        "{tags:?}"
    );
    let config = s
        .sagemaker
        .describe_app_image_config()
        .app_image_config_name(&retained)
        .send()
        .await
        .unwrap();
    let tags = tags_of(&s, config.app_image_config_arn().unwrap()).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("studio-operator.io/")),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_domain_uses_an_image_by_name_and_its_deletion_waits_for_the_domain() {
    let s = setup("img-ref").await;
    let ns = s.namespace.name.clone();
    let images: Api<StudioImage> = Api::namespaced(s.client.clone(), &ns);
    apply(&images, "lab", &image_manifest("lab", "Delete")).await;
    let status = wait_image(&images, "lab", "Ready", "True").await;
    let mut domain = crate::domain::domain_manifest("platform", "alias/studio");
    domain["spec"]["defaultUserSettings"] = json!({
        "executionRole": "arn:aws:iam::123456789012:role/StudioDefault",
        "jupyterLabAppSettings": {"customImages": [{"imageRef": "lab", "imageVersionNumber": 2}]},
    });
    let domain_id = crate::profile::ready_domain(&s, domain.clone()).await;
    let described = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    let custom = described
        .default_user_settings()
        .and_then(|u| u.jupyter_lab_app_settings())
        .map(|lab| lab.custom_images().to_vec())
        .unwrap_or_default();
    assert_eq!(custom.len(), 1, "{custom:?}");
    assert_eq!(custom[0].image_name(), status.image_name.as_deref());
    assert_eq!(
        custom[0].app_image_config_name(),
        status.app_image_config_name.as_deref()
    );
    assert_eq!(custom[0].image_version_number(), Some(2));

    images.delete("lab", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(&images, "lab", "DeletionBlocked", |i| {
        let st = i.status.clone()?;
        wait::condition(&st.conditions, "DeletionBlocked")
            .filter(|c| c.status == "True")
            .map(|c| c.message.clone())
    })
    .await;
    assert!(blocked.contains(&format!("StudioDomain {ns}/platform")), "{blocked}");
    assert_eq!(s.control().count("DeleteImage", None), 0);

    domain["spec"]["defaultUserSettings"] = json!({"executionRole": "arn:aws:iam::123456789012:role/StudioDefault"});
    s.apply("platform", &domain).await;
    wait_gone(&images, "lab").await;
    assert_eq!(s.control().count("DeleteImage", Some("ok")), 1);
}
