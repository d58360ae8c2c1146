//! What a domain holds: its profiles and spaces, each with who manages it. "Managed" means
//! managed by this cluster's operator for a custom resource that still exists; everything else
//! (created in the console, another cluster's, left behind by a deleted resource) is someone
//! else's, and a recreation or deletion never removes it without consent.
//!
//! Classifying costs the domain's List calls and the account's tag index (one paginated
//! GetResources); ListTags only for members the index does not show. Right before a member is
//! deleted, [`crate::controller::teardown::execute`] reads its tags again with ListTags.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::DeletionPolicy;
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{MemberType, ObservedDomain};
use crate::controller::context::Context;
use crate::controller::teardown::{arn_prefix, member_arn};
use crate::ownership::{self, Holder};

/// Who manages a member of the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// This cluster's operator, for the live resource named (`Kind namespace/name`).
    Managed { resource: String, policy: DeletionPolicy },
    /// Someone else (why, for a message).
    Foreign(String),
}

/// A profile or space of the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Profile or space.
    pub kind: MemberType,
    /// Its name.
    pub name: String,
    /// Who manages it.
    pub standing: Standing,
}

impl Held {
    /// `user profile alice`, `space lab`.
    pub fn label(&self) -> String {
        label(self.kind, &self.name)
    }
}

/// `user profile alice`, `space lab`.
pub fn label(kind: MemberType, name: &str) -> String {
    match kind {
        MemberType::UserProfile => format!("user profile {name}"),
        MemberType::Space => format!("space {name}"),
    }
}

/// Who manages a member with these tags, seen from this cluster (`cluster`); `resource` finds
/// the live custom resource of a UID and its deletion policy.
pub fn standing(
    tags: &BTreeMap<String, String>,
    cluster: &str,
    resource: impl Fn(&str) -> Option<(String, DeletionPolicy)>,
) -> Standing {
    match ownership::holder(tags, cluster) {
        Holder::Nobody => Standing::Foreign("not managed by studio-operator".into()),
        Holder::OtherCluster { cluster, .. } => Standing::Foreign(format!("managed by the cluster {cluster}")),
        Holder::ThisCluster { namespace, name, uid } => match resource(&uid) {
            Some((resource, policy)) => Standing::Managed { resource, policy },
            None => Standing::Foreign(format!("its resource {namespace}/{name} no longer exists")),
        },
    }
}

/// Every profile and space of the domain, classified.
pub async fn classify(ctx: &Context, session: &AwsSession, domain: &ObservedDomain) -> Result<Vec<Held>, AwsError> {
    let prefix = arn_prefix(&domain.arn).unwrap_or_default();
    let index = ctx.listings.tag_index(session, Duration::ZERO).await;
    let mut held = Vec::new();
    for (kind, members) in [
        (MemberType::UserProfile, session.list_user_profiles(&domain.id).await?),
        (MemberType::Space, session.list_spaces(&domain.id).await?),
    ] {
        for member in members {
            let arn = member_arn(&prefix, &domain.id, kind, &member.name);
            let tags = match index.get(&arn) {
                Some(tags) => tags.clone(),
                None => match session.list_tags(&arn).await {
                    Ok(tags) => tags,
                    Err(AwsError::NotFound { .. }) => continue,
                    Err(error) => return Err(error),
                },
            };
            let standing = standing(&tags, &ctx.config.cluster_id, |uid| ctx.stores.member_resource(uid));
            held.push(Held {
                kind,
                name: member.name,
                standing,
            });
        }
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::Owner;

    #[test]
    fn only_this_clusters_members_of_live_resources_are_managed() {
        let owner = Owner {
            cluster: "c1".into(),
            namespace: "team".into(),
            name: "alice".into(),
            uid: "u-1".into(),
        };
        let live = |uid: &str| (uid == "u-1").then(|| ("UserProfile team/alice".to_string(), DeletionPolicy::Retain));
        assert_eq!(
            standing(&owner.tags(), "c1", live),
            Standing::Managed {
                resource: "UserProfile team/alice".into(),
                policy: DeletionPolicy::Retain
            }
        );
        assert!(matches!(standing(&owner.tags(), "c2", live), Standing::Foreign(why) if why.contains("cluster c1")));
        let gone = |_: &str| None;
        assert!(
            matches!(standing(&owner.tags(), "c1", gone), Standing::Foreign(why) if why.contains("no longer exists"))
        );
        assert!(matches!(standing(&BTreeMap::new(), "c1", live), Standing::Foreign(_)));
    }
}
