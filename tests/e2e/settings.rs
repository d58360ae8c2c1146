//! Settings coverage end to end: members added with the generated settings types reach AWS, the
//! Studio UI hides what an enforcing Guardrail forbids, a console change to any managed member
//! is corrected, and a member the spec does not set is carried over untouched.

use aws_emulator::{ResourceRef, Scope, UpdateMerge};
use serde_json::json;

use crate::domain::{Setup, domain_manifest, setup};
use crate::guardrail::Installed;
use crate::support::wait;

/// What the described domain hides in the Studio UI and whether it allows Docker.
struct Seen {
    instances: Vec<String>,
    apps: Vec<String>,
    tools: Vec<String>,
    docker: String,
}

/// The domain as AWS describes it, once InService.
async fn seen(s: &Setup, id: &str) -> Result<Seen, String> {
    let d = s
        .sagemaker
        .describe_domain()
        .domain_id(id)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if d.status().map(|s| s.as_str()) != Some("InService") {
        return Err(format!("status {:?}", d.status()));
    }
    let portal = d
        .default_user_settings()
        .and_then(|u| u.studio_web_portal_settings())
        .ok_or("no StudioWebPortalSettings")?;
    Ok(Seen {
        instances: portal
            .hidden_instance_types()
            .iter()
            .map(|t| t.as_str().into())
            .collect(),
        apps: portal.hidden_app_types().iter().map(|t| t.as_str().into()).collect(),
        tools: portal.hidden_ml_tools().iter().map(|t| t.as_str().into()).collect(),
        docker: d
            .domain_settings()
            .and_then(|x| x.docker_settings())
            .and_then(|x| x.enable_docker_access())
            .map(|x| x.as_str().into())
            .unwrap_or_default(),
    })
}

#[tokio::test]
async fn the_ui_matches_the_guardrail_and_console_changes_to_managed_members_are_corrected() {
    let s = setup("settings-ui").await;
    s.key("alias/studio").await;
    let _guardrail = Installed::new(
        &s,
        "ui",
        "Enforce",
        json!({"allowedInstanceTypes": ["ml.t3.*"], "allowedAppTypes": ["JupyterLab", "CodeEditor"]}),
    )
    .await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    manifest["spec"]["defaultUserSettings"]["studioWebPortalSettings"] = json!({"hiddenMlTools": ["Comet"]});
    manifest["spec"]["defaultUserSettings"]["autoMountHomeEFS"] = json!("Disabled");
    manifest["spec"]["domainSettings"] = json!({"dockerSettings": {"enableDockerAccess": "DISABLED"}});
    s.apply("platform", &manifest).await;
    let domain = s.wait_ready("platform").await;
    let id = domain.status.unwrap().domain_id.unwrap();

    let ui = seen(&s, &id).await.unwrap();
    assert!(
        ui.instances.iter().any(|t| t == "ml.p4d.24xlarge"),
        "{:?}",
        ui.instances
    );
    assert!(
        !ui.instances.iter().any(|t| t.starts_with("ml.t3.") || t == "system"),
        "{:?}",
        ui.instances
    );
    assert!(ui.apps.iter().any(|t| t == "Canvas"), "{:?}", ui.apps);
    assert!(!ui.apps.iter().any(|t| t == "JupyterLab"), "{:?}", ui.apps);
    assert_eq!(ui.tools, ["Comet"], "the spec's own list is kept");
    assert_eq!(ui.docker, "DISABLED");

    // Console changes: a hidden tool shown again, Docker turned on, and a member nobody manages.
    s.control()
        .patch(
            &Scope::default(),
            &ResourceRef::Domain { domain_id: id.clone() },
            &json!({
                "DefaultUserSettings": {
                    "StudioWebPortalSettings": {"HiddenMlTools": []},
                    "CanvasAppSettings": {"DirectDeploySettings": {"Status": "DISABLED"}},
                },
                "DomainSettings": {"DockerSettings": {"EnableDockerAccess": "ENABLED"}},
            }),
        )
        .unwrap();
    wait::until(
        "console changes corrected",
        std::time::Duration::from_secs(60),
        || async {
            let ui = seen(&s, &id).await?;
            (ui.tools == ["Comet"] && ui.docker == "DISABLED")
                .then_some(())
                .ok_or(format!("{:?} {}", ui.tools, ui.docker))
        },
    )
    .await;
    let described = s.sagemaker.describe_domain().domain_id(&id).send().await.unwrap();
    let canvas = described
        .default_user_settings()
        .and_then(|u| u.canvas_app_settings())
        .and_then(|c| c.direct_deploy_settings())
        .and_then(|d| d.status());
    assert_eq!(
        canvas.map(|c| c.as_str()),
        Some("DISABLED"),
        "an unmanaged member is carried over"
    );
    let events = s.events("DriftCorrected").await;
    assert!(!events.is_empty(), "a DriftCorrected event");
    let notes: Vec<&str> = events.iter().filter_map(|e| e.note.as_deref()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("dockerSettings") || n.contains("DockerSettings")),
        "{notes:?}"
    );
    let status = s.domains.get("platform").await.unwrap().status.unwrap();
    let settings = status.settings.expect("status.settings");
    assert!(
        settings
            .unmanaged_paths
            .iter()
            .any(|p| p.starts_with("DefaultUserSettings.CanvasAppSettings")),
        "{settings:?}"
    );
}

/// A custom image added in the console (a member the spec does not manage), then an operator
/// update of the same structure: the image must survive whether AWS replaces a structure given
/// in an update or merges it deeply (the real depth is unconfirmed).
async fn a_console_custom_image_survives_an_operator_update(mode: UpdateMerge, prefix: &str) {
    let s = setup(prefix).await;
    s.control().set_update_merge(mode);
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    s.apply("platform", &manifest).await;
    let id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    s.control()
        .patch(
            &Scope::default(),
            &ResourceRef::Domain { domain_id: id.clone() },
            &json!({"DefaultUserSettings": {"JupyterLabAppSettings": {"CustomImages": [
                {"ImageName": "team-image", "AppImageConfigName": "team-config"}]}}}),
        )
        .unwrap();
    manifest["spec"]["defaultUserSettings"]["jupyterLab"]["defaultResourceSpec"]["instanceType"] = json!("ml.m5.large");
    s.apply("platform", &manifest).await;
    let sagemaker = s.sagemaker.clone();
    let images = wait::until("the operator's update", std::time::Duration::from_secs(60), || {
        let sagemaker = sagemaker.clone();
        let id = id.clone();
        async move {
            let domain = sagemaker
                .describe_domain()
                .domain_id(&id)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let lab = domain
                .default_user_settings()
                .and_then(|u| u.jupyter_lab_app_settings())
                .ok_or("no JupyterLab settings")?;
            let instance = lab
                .default_resource_spec()
                .and_then(|r| r.instance_type())
                .map(|t| t.as_str().to_string());
            match instance.as_deref() {
                Some("ml.m5.large") => Ok(lab
                    .custom_images()
                    .iter()
                    .map(|i| i.image_name().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()),
                other => Err(format!("instance type {other:?}")),
            }
        }
    })
    .await;
    assert_eq!(
        images,
        ["team-image"],
        "{mode:?}: the console's custom image was carried over"
    );
}

#[tokio::test]
async fn a_console_custom_image_survives_an_operator_update_when_aws_replaces_structures() {
    a_console_custom_image_survives_an_operator_update(UpdateMerge::Replace, "settings-replace").await;
}

#[tokio::test]
async fn a_console_custom_image_survives_an_operator_update_when_aws_merges_deeply() {
    a_console_custom_image_survives_an_operator_update(UpdateMerge::Deep, "settings-deep").await;
}
