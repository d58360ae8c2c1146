//! The space's rules, as pure functions: its name, owner and tags, what it needs before it can
//! be created, what UpdateSpace may change, and what forces a recreation.

use std::collections::BTreeMap;

use crate::api::{SharedSpaceSpec, SharingType, SpaceAppType};
use crate::aws::model::{AppSummary, ObservedSpace, SpaceCreate};
use crate::controller::settings;

/// `SpaceName`: `spec.spaceName`, or the resource's name.
pub fn space_name(spec: &SharedSpaceSpec, metadata_name: &str) -> String {
    spec.space_name.clone().unwrap_or_else(|| metadata_name.to_string())
}

fn sharing_type(spec: &SharedSpaceSpec) -> &'static str {
    match spec.sharing.sharing_type {
        SharingType::Shared => "Shared",
        SharingType::Private => "Private",
    }
}

fn app_type(spec: &SharedSpaceSpec) -> &'static str {
    match spec.app_type {
        SpaceAppType::JupyterLab => "JupyterLab",
        SpaceAppType::CodeEditor => "CodeEditor",
    }
}

/// Why nothing can be created (condition reason and message): AWS wants an owner profile for
/// every JupyterLab and Code Editor space, and shared spaces run as the domain's default space
/// execution role.
pub fn creation_problem(spec: &SharedSpaceSpec, space_execution_role: Option<&str>) -> Option<(&'static str, String)> {
    if spec.sharing.owner_profile.is_none() {
        return Some((
            "OwnerProfileRequired",
            "AWS requires an owner for every JupyterLab and Code Editor space: set spec.sharing.ownerProfile to a user profile of the domain".into(),
        ));
    }
    if spec.sharing.sharing_type == SharingType::Shared && space_execution_role.is_none() {
        return Some((
            "SpaceExecutionRoleMissing",
            "a shared space runs as the domain's default space execution role, and the domain has none: set spec.defaultSpaceSettings.executionRole on the StudioDomain".into(),
        ));
    }
    None
}

/// User tags and the ownership tags.
pub fn desired_tags(spec: &SharedSpaceSpec, ownership: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    tags.extend(ownership);
    tags
}

/// What CreateSpace sends.
pub fn desired_space(spec: &SharedSpaceSpec, name: String, tags: BTreeMap<String, String>) -> SpaceCreate {
    SpaceCreate {
        name,
        display_name: spec.display_name.clone(),
        owner: spec.sharing.owner_profile.clone().unwrap_or_default(),
        sharing_type: sharing_type(spec).into(),
        settings: settings::space_settings(app_type(spec), spec.settings.as_ref()),
        tags,
    }
}

/// What AWS cannot update: owner, sharing type and app type. A change recreates the space.
pub fn immutable_changes(desired: &SpaceCreate, observed: &ObservedSpace) -> Vec<&'static str> {
    let mut changes = Vec::new();
    if observed.owner.as_deref() != Some(desired.owner.as_str()) {
        changes.push("sharing.ownerProfile");
    }
    if observed.sharing_type.as_deref() != Some(desired.sharing_type.as_str()) {
        changes.push("sharing.type");
    }
    if observed.settings.app_type != desired.settings.app_type {
        changes.push("appType");
    }
    changes
}

/// What UpdateSpace must change. An EBS size the spec leaves out keeps the volume's size (AWS
/// cannot unset it); a display name the spec leaves out is not managed.
pub fn mutable_changes(desired: &SpaceCreate, observed: &ObservedSpace) -> Vec<&'static str> {
    let mut changes = Vec::new();
    let mut wanted = desired.settings.clone();
    wanted.ebs_volume_size_gb = wanted.ebs_volume_size_gb.or(observed.settings.ebs_volume_size_gb);
    if wanted != observed.settings {
        changes.push("settings");
    }
    if desired.display_name.is_some() && desired.display_name != observed.display_name {
        changes.push("displayName");
    }
    changes
}

/// The apps of one space.
pub fn apps_of<'a>(apps: &'a [AppSummary], space: &str) -> Vec<&'a AppSummary> {
    apps.iter().filter(|a| a.space.as_deref() == Some(space)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DomainRef, SpaceSettings, SpaceSharing};
    use crate::aws::model;

    fn spec(sharing_type: SharingType, owner: Option<&str>) -> SharedSpaceSpec {
        SharedSpaceSpec {
            domain_ref: DomainRef {
                name: "platform".into(),
                namespace: None,
            },
            space_name: None,
            display_name: Some("Team".into()),
            sharing: SpaceSharing {
                sharing_type,
                owner_profile: owner.map(String::from),
            },
            app_type: SpaceAppType::JupyterLab,
            settings: Some(SpaceSettings {
                ebs_volume_size_gb: Some(20),
                ..Default::default()
            }),
            tags: BTreeMap::new(),
            deletion_policy: Default::default(),
            adopt: false,
        }
    }

    fn observed_as(desired: &SpaceCreate) -> ObservedSpace {
        ObservedSpace {
            display_name: desired.display_name.clone(),
            owner: Some(desired.owner.clone()),
            sharing_type: Some(desired.sharing_type.clone()),
            settings: desired.settings.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn shared_spaces_need_the_domains_space_role_and_every_space_an_owner() {
        let shared = spec(SharingType::Shared, Some("alice"));
        assert_eq!(creation_problem(&shared, None).unwrap().0, "SpaceExecutionRoleMissing");
        assert!(creation_problem(&shared, Some("arn:aws:iam::123456789012:role/S")).is_none());
        let private = spec(SharingType::Private, Some("alice"));
        assert!(
            creation_problem(&private, None).is_none(),
            "private spaces run as their owner's role"
        );
        let ownerless = spec(SharingType::Shared, None);
        assert_eq!(
            creation_problem(&ownerless, Some("arn:aws:iam::123456789012:role/S"))
                .unwrap()
                .0,
            "OwnerProfileRequired"
        );
    }

    #[test]
    fn owner_sharing_and_app_type_force_recreation() {
        let desired = desired_space(&spec(SharingType::Private, Some("alice")), "s".into(), BTreeMap::new());
        let same = observed_as(&desired);
        assert!(immutable_changes(&desired, &same).is_empty());
        let other = ObservedSpace {
            owner: Some("bob".into()),
            sharing_type: Some("Shared".into()),
            settings: model::SpaceSettings {
                app_type: "CodeEditor".into(),
                ..desired.settings.clone()
            },
            ..same
        };
        assert_eq!(
            immutable_changes(&desired, &other),
            vec!["sharing.ownerProfile", "sharing.type", "appType"]
        );
    }

    #[test]
    fn settings_and_display_name_update_in_place() {
        let desired = desired_space(&spec(SharingType::Shared, Some("alice")), "s".into(), BTreeMap::new());
        let mut observed = observed_as(&desired);
        assert!(mutable_changes(&desired, &observed).is_empty());
        observed.display_name = Some("Old".into());
        observed.settings.idle_timeout_minutes = Some(60);
        assert_eq!(mutable_changes(&desired, &observed), vec!["settings", "displayName"]);
    }

    #[test]
    fn an_ebs_size_left_out_keeps_the_volume() {
        let mut without = spec(SharingType::Shared, Some("alice"));
        without.settings = None;
        without.display_name = None;
        let desired = desired_space(&without, "s".into(), BTreeMap::new());
        let mut observed = observed_as(&desired);
        observed.settings.ebs_volume_size_gb = Some(50);
        observed.display_name = Some("Named in Studio".into());
        assert!(mutable_changes(&desired, &observed).is_empty());
    }

    #[test]
    fn apps_of_a_space() {
        let app = |space: Option<&str>| AppSummary {
            space: space.map(String::from),
            ..Default::default()
        };
        let apps = vec![app(Some("s")), app(Some("t")), app(None)];
        assert_eq!(apps_of(&apps, "s").len(), 1);
    }
}
