//! Short-lived, shared List results of a domain's profiles, spaces and apps, and the account's
//! tag index.
//!
//! A resync of an unchanged profile or space costs no call of its own: the profiles, spaces and
//! apps of a domain are listed with paginated List calls (100 per page) into a short-lived cache
//! shared by every reconcile of that domain ([`Listings`]); what each resource last saw is in
//! [`super::memory`]. Tags are the exception: AddTags and DeleteTags do not move
//! `LastModifiedTime`, so each resync round also reads the tags of every profile and space of the
//! account and region from the Resource Groups Tagging API (`GetResources`, 100 per page, shared
//! by all domains).
//!
//! Resyncs are aligned on multiples of the resync interval ([`aligned`]), so the resources of a
//! domain come due together and share one set of List pages per interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, MemberSummary, MemberType, TaggedResource};

/// A List result and when the listing started (everything in it is at least that new).
#[derive(Debug)]
pub struct Listing<T> {
    /// When the first page was asked for.
    pub at: Instant,
    /// Every item of every page.
    pub items: Arc<Vec<T>>,
}

impl<T> Clone for Listing<T> {
    fn clone(&self) -> Self {
        Self {
            at: self.at,
            items: self.items.clone(),
        }
    }
}

impl Listing<MemberSummary> {
    /// The profile or space of that name.
    pub fn get(&self, name: &str) -> Option<&MemberSummary> {
        self.items.iter().find(|m| m.name == name)
    }
}

impl Listing<TaggedResource> {
    /// The tags of the resource with this ARN (the index is sorted by ARN).
    pub fn get(&self, arn: &str) -> Option<&BTreeMap<String, String>> {
        self.items
            .binary_search_by(|r| r.arn.as_str().cmp(arn))
            .ok()
            .map(|i| &self.items[i].tags)
    }
}

type Slot<T> = tokio::sync::Mutex<Option<Listing<T>>>;

/// The cached listings of one domain.
#[derive(Default)]
struct DomainLists {
    profiles: Slot<MemberSummary>,
    spaces: Slot<MemberSummary>,
    apps: Slot<AppSummary>,
}

/// Key of a domain's listings: the session's region and role, and the domain id.
type DomainKey = (String, Option<String>, String);

/// Key of an account's tag index: the session's region and role.
type SessionKey = (String, Option<String>);

/// Short-lived caches of ListUserProfiles, ListSpaces and ListApps per domain, shared by all
/// reconciles. Callers say how old a listing they accept; concurrent callers wait for one
/// fetch instead of each listing again.
#[derive(Default)]
pub struct Listings {
    domains: Mutex<HashMap<DomainKey, Arc<DomainLists>>>,
    /// The tag index per session (region and role).
    tags: Mutex<HashMap<SessionKey, Arc<Slot<TaggedResource>>>>,
}

impl Listings {
    fn lists(&self, session: &AwsSession, domain_id: &str) -> Arc<DomainLists> {
        let key = (
            session.region().to_string(),
            session.role_arn().map(str::to_string),
            domain_id.to_string(),
        );
        self.domains
            .lock()
            .expect("listings lock")
            .entry(key)
            .or_default()
            .clone()
    }

    async fn cached<T, F, Fut>(slot: &Slot<T>, max_age: Duration, fetch: F) -> Result<Listing<T>, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, AwsError>>,
    {
        let mut slot = slot.lock().await;
        if let Some(listing) = slot.as_ref()
            && listing.at.elapsed() <= max_age
        {
            return Ok(listing.clone());
        }
        let at = Instant::now();
        let listing = Listing {
            at,
            items: Arc::new(fetch().await?),
        };
        *slot = Some(listing.clone());
        Ok(listing)
    }

    /// The tags of the account's profiles and spaces, read at most `max_age` ago. When they
    /// cannot be read (say, `tag:GetResources` is not allowed) the index is empty for that round
    /// and every resource falls back to its tag audit.
    pub async fn tag_index(&self, session: &AwsSession, max_age: Duration) -> Listing<TaggedResource> {
        let key = (session.region().to_string(), session.role_arn().map(str::to_string));
        let slot = self.tags.lock().expect("listings lock").entry(key).or_default().clone();
        let fetch = || async {
            Ok::<_, AwsError>(session.tagged_members().await.unwrap_or_else(|error| {
                tracing::warn!(%error, category = error.category(), "cannot read the tag index (tag:GetResources); tags are audited with ListTags instead");
                Vec::new()
            }))
        };
        Self::cached(&slot, max_age, fetch)
            .await
            .expect("the tag index fetch does not fail")
    }

    /// The domain's members of one type, listed at most `max_age` ago.
    pub async fn members(
        &self,
        session: &AwsSession,
        domain_id: &str,
        member: MemberType,
        max_age: Duration,
    ) -> Result<Listing<MemberSummary>, AwsError> {
        let lists = self.lists(session, domain_id);
        match member {
            MemberType::UserProfile => {
                Self::cached(&lists.profiles, max_age, || session.list_user_profiles(domain_id)).await
            }
            MemberType::Space => Self::cached(&lists.spaces, max_age, || session.list_spaces(domain_id)).await,
        }
    }

    /// The domain's apps, listed at most `max_age` ago (`Duration::ZERO`: now, for decisions
    /// that delete or block on apps).
    pub async fn apps(
        &self,
        session: &AwsSession,
        domain_id: &str,
        max_age: Duration,
    ) -> Result<Listing<AppSummary>, AwsError> {
        let lists = self.lists(session, domain_id);
        Self::cached(&lists.apps, max_age, || session.list_apps(domain_id)).await
    }
}

/// The delay until the next multiple of `period` (wall clock), so that resources come due
/// together; never less than a tenth of the period.
pub fn aligned(period: Duration) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    aligned_at(period, now)
}

/// How far the current resync round (since the last multiple of `period`) has got.
pub fn into_round(period: Duration) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let period_ms = period.as_millis().max(1);
    Duration::from_millis((now.as_millis() % period_ms) as u64)
}

fn aligned_at(period: Duration, since_epoch: Duration) -> Duration {
    let period_ms = period.as_millis().max(1);
    let into = since_epoch.as_millis() % period_ms;
    let mut delay = period_ms - into;
    if delay < period_ms / 10 {
        delay += period_ms;
    }
    Duration::from_millis(delay as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resyncs_align_on_multiples_of_the_interval() {
        let period = Duration::from_secs(300);
        assert_eq!(aligned_at(period, Duration::from_secs(1000)), Duration::from_secs(200));
        assert_eq!(aligned_at(period, Duration::from_secs(1200)), Duration::from_secs(300));
        // Just before a boundary: the one after it.
        assert_eq!(aligned_at(period, Duration::from_secs(1195)), Duration::from_secs(305));
        assert!(aligned(period) <= period + period / 10);
    }
}
