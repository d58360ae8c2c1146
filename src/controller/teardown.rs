//! Deleting in order: AWS refuses to delete a space with running apps, a profile that owns
//! spaces or runs apps, and a domain that holds anything. The planners here are pure: from what
//! was listed they say which deletions to make now and what the teardown waits for;
//! [`execute`] is the one place that makes the deletions.

use std::collections::BTreeMap;

use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, MemberSummary, MemberType};

/// One deletion call.
#[derive(Clone, Debug, PartialEq)]
pub enum Deletion {
    /// DeleteApp.
    App(AppSummary),
    /// DeleteSpace.
    Space(String),
    /// DeleteUserProfile.
    UserProfile(String),
}

impl Deletion {
    /// The deletion of a member.
    pub fn member(member: MemberType, name: String) -> Self {
        match member {
            MemberType::UserProfile => Deletion::UserProfile(name),
            MemberType::Space => Deletion::Space(name),
        }
    }
}

/// Where a teardown stands after this pass's deletions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeardownState {
    /// Everything is gone.
    Done,
    /// Deletions are under way (what is being deleted).
    Waiting(String),
    /// A person must act first (why).
    Blocked(String),
    /// The member is not this resource's (another owner, or nobody's): nothing was deleted.
    Foreign(String),
}

/// The deletions to make now, and where the teardown stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Teardown {
    /// The calls to make.
    pub deletions: Vec<Deletion>,
    /// What the teardown waits for.
    pub state: TeardownState,
}

impl Teardown {
    fn done() -> Self {
        Self {
            deletions: Vec::new(),
            state: TeardownState::Done,
        }
    }

    fn blocked(why: String) -> Self {
        Self {
            deletions: Vec::new(),
            state: TeardownState::Blocked(why),
        }
    }
}

/// A space a profile owns, as its domain's listing shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedSpace {
    /// `SpaceName`.
    pub name: String,
    /// Its status.
    pub status: String,
    /// The SharedSpace resource (`namespace/name`) that still manages it, if any.
    pub manager: Option<String>,
}

/// Deletes the apps still alive (those already Deleting are only waited for); `None` when all
/// are gone (Deleted or Failed).
fn stop_apps<'a>(apps: impl IntoIterator<Item = &'a AppSummary>) -> Option<(Vec<Deletion>, usize)> {
    let alive: Vec<&AppSummary> = apps.into_iter().filter(|a| a.is_alive()).collect();
    if alive.is_empty() {
        return None;
    }
    let deletions = alive
        .iter()
        .filter(|a| a.status != "Deleting")
        .map(|a| Deletion::App((*a).clone()))
        .collect();
    Some((deletions, alive.len()))
}

/// Retiring one member: its own apps, then the spaces it owns (their apps first; a space a
/// SharedSpace resource still manages blocks), then the member itself (`status` as described,
/// `None` once gone).
pub fn retirement(
    member: MemberType,
    noun: &str,
    name: &str,
    owned_spaces: &[OwnedSpace],
    all_apps: &[AppSummary],
    status: Option<&str>,
) -> Teardown {
    let own_apps = member.apps_of(all_apps, name);
    if let Some((deletions, alive)) = stop_apps(own_apps.iter().copied()) {
        return Teardown {
            deletions,
            state: TeardownState::Waiting(format!("deleting {alive} app(s)")),
        };
    }
    if let Some((space, manager)) = owned_spaces
        .iter()
        .find_map(|s| s.manager.as_ref().map(|m| (&s.name, m)))
    {
        return Teardown::blocked(format!(
            "SharedSpace {manager} still manages space {space} owned by {noun} {name}; delete it first"
        ));
    }
    let mut deletions = Vec::new();
    let mut progress = Vec::new();
    for space in owned_spaces {
        let its_apps = all_apps
            .iter()
            .filter(|a| a.space.as_deref() == Some(space.name.as_str()));
        match stop_apps(its_apps) {
            Some((apps, alive)) => {
                deletions.extend(apps);
                progress.push(format!("space {}: deleting {alive} app(s)", space.name));
            }
            None => {
                if space.status != "Deleting" {
                    deletions.push(Deletion::Space(space.name.clone()));
                }
                progress.push(format!("deleting space {}", space.name));
            }
        }
    }
    if !progress.is_empty() {
        return Teardown {
            deletions,
            state: TeardownState::Waiting(progress.join("; ")),
        };
    }
    match status {
        None => Teardown::done(),
        Some(status) => Teardown {
            deletions: if status == "Deleting" {
                Vec::new()
            } else {
                vec![Deletion::member(member, name.to_string())]
            },
            state: TeardownState::Waiting(format!("deleting {noun} {name}")),
        },
    }
}

/// Emptying a domain before its deletion: every app, then every space, then every profile.
pub fn emptying(apps: &[AppSummary], spaces: &[MemberSummary], profiles: &[MemberSummary]) -> Teardown {
    if let Some((deletions, alive)) = stop_apps(apps) {
        return Teardown {
            deletions,
            state: TeardownState::Waiting(format!("deleting {alive} app(s)")),
        };
    }
    let layer = |members: &[MemberSummary], deletion: fn(String) -> Deletion, noun: &str| {
        (!members.is_empty()).then(|| Teardown {
            deletions: members
                .iter()
                .filter(|m| m.status != "Deleting")
                .map(|m| deletion(m.name.clone()))
                .collect(),
            state: TeardownState::Waiting(format!("deleting {} {noun}", members.len())),
        })
    };
    layer(spaces, Deletion::Space, "space(s)")
        .or_else(|| layer(profiles, Deletion::UserProfile, "user profile(s)"))
        .unwrap_or_else(Teardown::done)
}

/// Whether the member of that type and name, with the tags read right before its deletion, may
/// be deleted now.
pub type MayDelete<'a> = dyn Fn(MemberType, &str, &BTreeMap<String, String>) -> bool + Sync + 'a;

/// What every deletion of a teardown must pass right before it is made: the member's tags, read
/// again with ListTags (the authoritative source), must still show it may go.
pub struct Guard<'a> {
    /// `arn:<partition>:sagemaker:<region>:<account>`: the members' ARNs are built from it.
    pub arn_prefix: String,
    /// The domain the deletions are in.
    pub domain_id: String,
    /// Whether the member of that type and name, with these tags, may be deleted now.
    pub may_delete: &'a MayDelete<'a>,
}

/// `arn:<partition>:sagemaker:<region>:<account>` of any SageMaker ARN.
pub fn arn_prefix(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "sagemaker").then(|| parts[..5].join(":"))
}

/// The ARN of a member of a domain (profile names are lower-cased in ARNs).
pub fn member_arn(prefix: &str, domain_id: &str, member: MemberType, name: &str) -> String {
    match member {
        MemberType::UserProfile => format!("{prefix}:user-profile/{domain_id}/{}", name.to_ascii_lowercase()),
        MemberType::Space => format!("{prefix}:space/{domain_id}/{name}"),
    }
}

/// Makes the deletions that still pass the guard; returns the members that did not (named for
/// a message), whose deletion is left undone. What is already gone counts as deleted.
pub async fn execute(session: &AwsSession, guard: &Guard<'_>, deletions: &[Deletion]) -> Result<Vec<String>, AwsError> {
    let mut refused = Vec::new();
    for deletion in deletions {
        let member = match deletion {
            Deletion::App(_) => None,
            Deletion::Space(name) => Some((MemberType::Space, name, "space")),
            Deletion::UserProfile(name) => Some((MemberType::UserProfile, name, "user profile")),
        };
        if let Some((member, name, noun)) = member {
            let arn = member_arn(&guard.arn_prefix, &guard.domain_id, member, name);
            let tags = match session.list_tags(&arn).await {
                Ok(tags) => tags,
                Err(AwsError::NotFound { .. }) => continue,
                Err(error) => return Err(error),
            };
            if !(guard.may_delete)(member, name, &tags) {
                refused.push(format!("{noun} {name}"));
                continue;
            }
        }
        let result = match deletion {
            Deletion::App(app) => session.delete_app(&guard.domain_id, app).await,
            Deletion::Space(name) => session.delete_space(&guard.domain_id, name).await,
            Deletion::UserProfile(name) => session.delete_user_profile(&guard.domain_id, name).await,
        };
        match result {
            Ok(()) | Err(AwsError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(profile: Option<&str>, space: Option<&str>, name: &str, status: &str) -> AppSummary {
        AppSummary {
            app_type: "JupyterLab".into(),
            app_name: name.into(),
            user_profile: profile.map(String::from),
            space: space.map(String::from),
            status: status.into(),
            ..Default::default()
        }
    }

    fn owned(name: &str, manager: Option<&str>) -> OwnedSpace {
        OwnedSpace {
            name: name.into(),
            status: "InService".into(),
            manager: manager.map(String::from),
        }
    }

    fn profile_retirement(spaces: &[OwnedSpace], all: &[AppSummary], status: Option<&str>) -> Teardown {
        retirement(MemberType::UserProfile, "user profile", "alice", spaces, all, status)
    }

    #[test]
    fn a_member_goes_after_its_apps_and_its_spaces() {
        let running = app(Some("alice"), None, "default", "InService");
        let stopping = app(Some("alice"), None, "other", "Deleting");
        let mine = [running.clone(), stopping.clone()];
        let first = profile_retirement(&[owned("s", None)], &mine, Some("InService"));
        assert_eq!(
            first.deletions,
            [Deletion::App(running.clone())],
            "Deleting apps are waited for"
        );
        assert_eq!(first.state, TeardownState::Waiting("deleting 2 app(s)".into()));

        let space_app = app(None, Some("s"), "lab", "InService");
        let second = profile_retirement(&[owned("s", None)], std::slice::from_ref(&space_app), Some("InService"));
        assert_eq!(second.deletions, [Deletion::App(space_app)]);
        assert_eq!(
            second.state,
            TeardownState::Waiting("space s: deleting 1 app(s)".into())
        );

        let third = profile_retirement(&[owned("s", None)], &[], Some("InService"));
        assert_eq!(third.deletions, [Deletion::Space("s".into())]);

        let fourth = profile_retirement(&[], &[], Some("InService"));
        assert_eq!(fourth.deletions, [Deletion::UserProfile("alice".into())]);
        assert_eq!(
            fourth.state,
            TeardownState::Waiting("deleting user profile alice".into())
        );

        let deleting = profile_retirement(&[], &[], Some("Deleting"));
        assert!(deleting.deletions.is_empty());
        assert_eq!(profile_retirement(&[], &[], None), Teardown::done());
    }

    #[test]
    fn a_space_another_resource_manages_blocks_the_retirement() {
        let blocked = profile_retirement(&[owned("s", Some("team/shared"))], &[], Some("InService"));
        assert!(blocked.deletions.is_empty());
        let TeardownState::Blocked(why) = blocked.state else {
            panic!("{blocked:?}")
        };
        assert!(why.contains("SharedSpace team/shared still manages space s owned by user profile alice"));
    }

    #[test]
    fn member_arns_are_built_from_the_domains() {
        let prefix = arn_prefix("arn:aws:sagemaker:eu-west-1:123456789012:domain/d-1").unwrap();
        assert_eq!(prefix, "arn:aws:sagemaker:eu-west-1:123456789012");
        assert_eq!(
            member_arn(&prefix, "d-1", MemberType::UserProfile, "Alice"),
            "arn:aws:sagemaker:eu-west-1:123456789012:user-profile/d-1/alice"
        );
        assert_eq!(
            member_arn(&prefix, "d-1", MemberType::Space, "Lab"),
            "arn:aws:sagemaker:eu-west-1:123456789012:space/d-1/Lab"
        );
        assert_eq!(arn_prefix("arn:aws:iam::123456789012:role/x"), None);
    }

    #[test]
    fn a_domain_empties_layer_by_layer() {
        let member = |name: &str, status: &str| MemberSummary {
            name: name.into(),
            status: status.into(),
            ..Default::default()
        };
        let apps = [
            app(Some("a"), None, "x", "InService"),
            app(Some("a"), None, "y", "Deleted"),
        ];
        let spaces = [member("s1", "InService"), member("s2", "Deleting")];
        let profiles = [member("a", "InService")];
        let first = emptying(&apps, &spaces, &profiles);
        assert_eq!(first.deletions.len(), 1);
        let second = emptying(&[], &spaces, &profiles);
        assert_eq!(second.deletions, [Deletion::Space("s1".into())]);
        assert_eq!(second.state, TeardownState::Waiting("deleting 2 space(s)".into()));
        let third = emptying(&[], &[], &profiles);
        assert_eq!(third.deletions, [Deletion::UserProfile("a".into())]);
        assert_eq!(emptying(&[], &[], &[]), Teardown::done());
    }
}
