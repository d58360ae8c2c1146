//! What the operator manages of a settings structure, as pure functions on [`Document`]s.
//!
//! A path is the dot-joined API member names from the request member that holds the structure
//! (`DefaultUserSettings.JupyterLabAppSettings.CustomImages`). The spec manages the leaves of
//! its desired document: every scalar, and every list as a whole. An update sends the structure
//! AWS holds (read by the Describe the pass has anyway) with the managed paths set to the spec's
//! values and the paths the operator managed before but the spec dropped cleared; every other
//! member is carried over unchanged, so the update means the same whether AWS replaces the
//! structures it is given or merges them deeply. Drift is corrected on managed paths only; what
//! AWS holds elsewhere is reported (unmanaged paths), never acted on.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::aws::model::Document;

/// Most unmanaged paths status lists.
pub const UNMANAGED_LIMIT: usize = 100;

/// How one settings structure is sent and compared.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    /// Members sent only when one of their paths changes: AWS refuses them in some states even
    /// unchanged (e.g. `ExecutionRoleIdentityConfig` while apps run).
    pub send_only_changed: &'static [&'static str],
    /// What AWS holds for a path it reports absent (relative paths).
    pub defaults: &'static [(&'static str, &'static str)],
}

/// What the operator does about one settings structure in one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Managed paths whose value in AWS differs from the spec's.
    pub drifted: Vec<String>,
    /// Paths the operator managed that left the spec, and that AWS still holds: cleared.
    pub reset: Vec<String>,
    /// The structure to send, when something must change.
    pub body: Option<Document>,
    /// The paths the spec manages now.
    pub managed: Vec<String>,
    /// Paths AWS holds a value for that the spec does not manage.
    pub unmanaged: Vec<String>,
}

impl Plan {
    /// Drifted and reset paths: what the update changes.
    pub fn changes(&self) -> Vec<String> {
        self.drifted.iter().chain(&self.reset).cloned().collect()
    }
}

/// The leaves of a document with their values: relative paths of scalars and lists.
pub fn leaves(document: &Document) -> Vec<(Vec<String>, &Value)> {
    fn walk<'a>(prefix: &[String], document: &'a Document, out: &mut Vec<(Vec<String>, &'a Value)>) {
        for (member, value) in document {
            let mut path = prefix.to_vec();
            path.push(member.clone());
            match value {
                Value::Object(nested) => walk(&path, nested, out),
                Value::Null => {}
                _ => out.push((path, value)),
            }
        }
    }
    let mut out = Vec::new();
    walk(&[], document, &mut out);
    out
}

/// The value at a relative path.
pub fn get<'a>(document: &'a Document, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut at = document;
    for member in parents {
        at = at.get(member)?.as_object()?;
    }
    at.get(last)
}

/// Sets the value at a relative path, making the structures on the way.
pub fn set(document: &mut Document, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("a path has a member");
    let mut at = document;
    for member in parents {
        let entry = at
            .entry(member.clone())
            .or_insert_with(|| Value::Object(Document::new()));
        if !entry.is_object() {
            *entry = Value::Object(Document::new());
        }
        at = entry.as_object_mut().expect("just made an object");
    }
    at.insert(last.clone(), value);
}

fn remove(document: &mut Document, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = document;
    for member in parents {
        match at.get_mut(member).and_then(Value::as_object_mut) {
            Some(next) => at = next,
            None => return,
        }
    }
    at.remove(last);
}

/// A value as AWS means it: absent, null, empty lists and empty structures are all "not set",
/// and a list is a set of values (its order carries no meaning in these structures).
fn normal(value: Option<&Value>) -> Option<Value> {
    match value? {
        Value::Null => None,
        Value::Object(members) => {
            let kept: Document = members
                .iter()
                .filter_map(|(k, v)| normal(Some(v)).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => {
            let mut kept: Vec<Value> = items.iter().filter_map(|v| normal(Some(v))).collect();
            kept.sort_by_key(|v| v.to_string());
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        scalar => Some(scalar.clone()),
    }
}

/// Whether two values mean the same to AWS.
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    normal(a) == normal(b)
}

fn joined(root: &str, path: &[String]) -> String {
    std::iter::once(root)
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(".")
}

fn split(root: &str, path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix(root)?.strip_prefix('.')?;
    Some(rest.split('.').map(String::from).collect())
}

/// The paths the spec manages of the structure `root`.
pub fn managed(root: &str, desired: &Document) -> Vec<String> {
    leaves(desired)
        .into_iter()
        .map(|(path, _)| joined(root, &path))
        .collect()
}

/// Decides what to do about the structure `root` (`DefaultUserSettings`, `UserSettings`, ...):
/// `desired` is what the spec asks for, `observed` what AWS holds, `managed_before` the managed
/// paths status recorded (of every structure; the others are ignored).
pub fn plan(root: &str, desired: &Document, observed: &Document, managed_before: &[String], rules: Rules) -> Plan {
    let default_of = |path: &[String]| {
        let relative = path.join(".");
        rules
            .defaults
            .iter()
            .find(|(p, _)| *p == relative)
            .map(|(_, v)| Value::String((*v).into()))
    };
    let wanted = leaves(desired);
    let managed: BTreeSet<Vec<String>> = wanted.iter().map(|(path, _)| path.clone()).collect();
    let mut plan = Plan {
        managed: managed.iter().map(|p| joined(root, p)).collect(),
        ..Plan::default()
    };
    let mut changed_members = BTreeSet::new();
    for (path, value) in &wanted {
        let held = get(observed, path).cloned().or_else(|| default_of(path));
        if !same(held.as_ref(), Some(value)) {
            plan.drifted.push(joined(root, path));
            changed_members.insert(path[0].clone());
        }
    }
    let dropped: Vec<Vec<String>> = managed_before
        .iter()
        .filter_map(|p| split(root, p))
        .filter(|p| !managed.contains(p) && normal(get(observed, p)).is_some())
        .collect();
    for path in &dropped {
        plan.reset.push(joined(root, path));
        changed_members.insert(path[0].clone());
    }
    let unmanaged: BTreeSet<String> = leaves(observed)
        .into_iter()
        .filter(|(path, value)| !managed.contains(path) && normal(Some(value)).is_some())
        .map(|(path, _)| joined(root, &path))
        .collect();
    plan.unmanaged = unmanaged.into_iter().take(UNMANAGED_LIMIT).collect();
    plan.drifted.sort();
    if changed_members.is_empty() {
        return plan;
    }
    let mut body = observed.clone();
    for (path, value) in wanted {
        set(&mut body, &path, value.clone());
    }
    for path in &dropped {
        if get(observed, path).is_some_and(Value::is_array) {
            set(&mut body, path, Value::Array(Vec::new()));
        } else {
            remove(&mut body, path);
        }
    }
    body.retain(|member, _| !rules.send_only_changed.contains(&member.as_str()) || changed_members.contains(member));
    plan.body = Some(body);
    plan
}

/// A path as the spec names it: the CRD field of each member (`defaultUserSettings.jupyterLabAppSettings.customImages`).
/// Members the CRDs model under the operator's own names are named so.
pub fn spec_path(path: &str) -> String {
    const FIELDS: &[(&str, &str)] = &[
        ("DomainSettings.SecurityGroupIds", "network.securityGroupIds"),
        ("DomainSettings.ExecutionRoleIdentityConfig", "executionRoleIdentity"),
        ("SpaceSettings", "settings"),
    ];
    for (api, spec) in FIELDS {
        if let Some(rest) = path.strip_prefix(api)
            && (rest.is_empty() || rest.starts_with('.'))
        {
            let rest: Vec<String> = rest.split('.').filter(|m| !m.is_empty()).map(lower_camel).collect();
            return std::iter::once(spec.to_string())
                .chain(rest)
                .collect::<Vec<_>>()
                .join(".");
        }
    }
    path.split('.').map(lower_camel).collect::<Vec<_>>().join(".")
}

/// The CRD field of an API member: the leading acronym in lower case (`EFSFileSystemConfig` ->
/// `efsFileSystemConfig`, `RStudioServerProAppSettings` -> `rStudioServerProAppSettings`), as
/// hack/settings-model/settings_model.py names the generated fields.
pub fn lower_camel(member: &str) -> String {
    if let Some(rest) = member.strip_prefix("FSx") {
        return format!("fsx{rest}");
    }
    let upper = member.chars().take_while(char::is_ascii_uppercase).count();
    let next_is_lower = member.chars().nth(upper).is_some_and(|c| c.is_ascii_lowercase());
    let lowered = if upper > 1 && next_is_lower { upper - 1 } else { upper };
    format!("{}{}", member[..lowered].to_ascii_lowercase(), &member[lowered..])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(value: Value) -> Document {
        value.as_object().unwrap().clone()
    }

    const ROOT: &str = "UserSettings";

    #[test]
    fn leaves_are_scalars_and_whole_lists() {
        let d = doc(json!({"A": {"B": 1, "C": [{"D": 2}]}, "E": "x", "F": null}));
        let paths: Vec<String> = leaves(&d).into_iter().map(|(p, _)| p.join(".")).collect();
        assert_eq!(paths, ["A.B", "A.C", "E"]);
    }

    #[test]
    fn absent_empty_and_reordered_values_are_the_same() {
        assert!(same(None, Some(&json!([]))));
        assert!(same(Some(&json!({"A": {}})), None));
        assert!(same(Some(&json!(["b", "a"])), Some(&json!(["a", "b"]))));
        assert!(same(
            Some(&json!([{"ImageName": "i", "Extra": []}])),
            Some(&json!([{"ImageName": "i"}]))
        ));
        assert!(!same(Some(&json!("a")), None));
        assert!(!same(Some(&json!([1])), Some(&json!([1, 1]))));
    }

    #[test]
    fn in_sync_means_no_body_and_reports_what_is_not_managed() {
        let desired = doc(
            json!({"ExecutionRole": "r", "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}}),
        );
        let mut observed = desired.clone();
        observed.insert("StudioWebPortal".into(), json!("ENABLED"));
        set(
            &mut observed,
            &["JupyterLabAppSettings".into(), "CustomImages".into()],
            json!([{"ImageName": "i", "AppImageConfigName": "c"}]),
        );
        let plan = plan(ROOT, &desired, &observed, &[], Rules::default());
        assert_eq!(plan.body, None);
        assert!(plan.changes().is_empty());
        assert_eq!(
            plan.managed,
            [
                "UserSettings.ExecutionRole",
                "UserSettings.JupyterLabAppSettings.DefaultResourceSpec.InstanceType"
            ]
        );
        assert_eq!(
            plan.unmanaged,
            [
                "UserSettings.JupyterLabAppSettings.CustomImages",
                "UserSettings.StudioWebPortal"
            ]
        );
    }

    #[test]
    fn an_update_changes_managed_paths_and_carries_everything_else() {
        let desired = doc(json!({"JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}}}));
        let observed = doc(json!({
            "ExecutionRole": "console-role",
            "JupyterLabAppSettings": {
                "DefaultResourceSpec": {"InstanceType": "ml.t3.medium", "LifecycleConfigArn": "lcc"},
                "CustomImages": [{"ImageName": "i", "AppImageConfigName": "c"}],
            },
        }));
        let plan = plan(ROOT, &desired, &observed, &[], Rules::default());
        assert_eq!(
            plan.drifted,
            ["UserSettings.JupyterLabAppSettings.DefaultResourceSpec.InstanceType"]
        );
        assert_eq!(
            Value::Object(plan.body.unwrap()),
            json!({
                "ExecutionRole": "console-role",
                "JupyterLabAppSettings": {
                    "DefaultResourceSpec": {"InstanceType": "ml.m5.large", "LifecycleConfigArn": "lcc"},
                    "CustomImages": [{"ImageName": "i", "AppImageConfigName": "c"}],
                },
            })
        );
    }

    #[test]
    fn a_path_that_leaves_the_spec_is_cleared_only_if_it_was_managed() {
        let desired = doc(json!({"ExecutionRole": "r"}));
        let observed = doc(json!({
            "ExecutionRole": "r",
            "SecurityGroups": ["sg-1"],
            "StudioWebPortal": "DISABLED",
            "KernelGatewayAppSettings": {"LifecycleConfigArns": ["a"]},
        }));
        let untouched = plan(ROOT, &desired, &observed, &[], Rules::default());
        assert_eq!(untouched.body, None, "never managed: left alone");
        let before = [
            "UserSettings.SecurityGroups".to_string(),
            "UserSettings.StudioWebPortal".to_string(),
            "UserSettings.KernelGatewayAppSettings.LifecycleConfigArns".to_string(),
            "DefaultSpaceSettings.SecurityGroups".to_string(),
        ];
        let plan = plan(ROOT, &desired, &observed, &before, Rules::default());
        assert_eq!(
            plan.reset,
            [
                "UserSettings.SecurityGroups",
                "UserSettings.StudioWebPortal",
                "UserSettings.KernelGatewayAppSettings.LifecycleConfigArns"
            ]
        );
        assert_eq!(
            Value::Object(plan.body.unwrap()),
            json!({"ExecutionRole": "r", "SecurityGroups": [], "KernelGatewayAppSettings": {"LifecycleConfigArns": []}}),
            "lists are cleared with an empty list, scalars by leaving them out"
        );
    }

    #[test]
    fn members_sent_only_when_changed_and_aws_defaults() {
        let rules = Rules {
            send_only_changed: &["ExecutionRoleIdentityConfig"],
            defaults: &[("ExecutionRoleIdentityConfig", "DISABLED")],
        };
        let desired = doc(
            json!({"ExecutionRoleIdentityConfig": "DISABLED", "DockerSettings": {"EnableDockerAccess": "DISABLED"}}),
        );
        let observed = doc(json!({"DockerSettings": {"EnableDockerAccess": "ENABLED", "RootlessDocker": "ENABLED"}}));
        let plan = plan("DomainSettings", &desired, &observed, &[], rules);
        assert_eq!(plan.drifted, ["DomainSettings.DockerSettings.EnableDockerAccess"]);
        assert_eq!(
            Value::Object(plan.body.unwrap()),
            json!({"DockerSettings": {"EnableDockerAccess": "DISABLED", "RootlessDocker": "ENABLED"}}),
            "the identity config is not sent: unchanged (AWS's default)"
        );
    }

    #[test]
    fn spec_paths_use_the_crd_fields() {
        assert_eq!(
            spec_path("DefaultUserSettings.JupyterLabAppSettings.CustomImages"),
            "defaultUserSettings.jupyterLabAppSettings.customImages"
        );
        assert_eq!(spec_path("DomainSettings.SecurityGroupIds"), "network.securityGroupIds");
        assert_eq!(
            spec_path("DomainSettings.ExecutionRoleIdentityConfig"),
            "executionRoleIdentity"
        );
        assert_eq!(
            spec_path("DomainSettings.RStudioServerProDomainSettings.RStudioConnectUrl"),
            "domainSettings.rStudioServerProDomainSettings.rStudioConnectUrl"
        );
        assert_eq!(spec_path("SpaceSettings.RemoteAccess"), "settings.remoteAccess");
        assert_eq!(
            spec_path("UserSettings.CustomFileSystemConfigs"),
            "userSettings.customFileSystemConfigs"
        );
        for (member, field) in [
            ("EFSFileSystemConfig", "efsFileSystemConfig"),
            ("FSxLustreFileSystemConfig", "fsxLustreFileSystemConfig"),
            ("AutoMountHomeEFS", "autoMountHomeEFS"),
            ("S3Uri", "s3Uri"),
            ("QProfileArn", "qProfileArn"),
            ("Uid", "uid"),
        ] {
            assert_eq!(lower_camel(member), field);
        }
    }
}
