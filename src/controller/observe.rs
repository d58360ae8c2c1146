//! List-driven observation of profiles and spaces.
//!
//! A resync of an unchanged profile or space costs no call of its own. The profiles, spaces and
//! apps of a domain are listed with paginated List calls (100 per page) into a short-lived cache
//! shared by every reconcile of that domain ([`Listings`]), and each resource remembers what it
//! last saw ([`Memory`]): the Describe result, its `LastModifiedTime` and status, and the tags.
//! Describe is called again only when a List newer than that memory shows another
//! `LastModifiedTime` or status, when the spec changed, or when the operator changed the
//! resource itself; [`Memory::plan`] decides.
//!
//! Tags are the exception: AddTags and DeleteTags do not move `LastModifiedTime`, so tag drift
//! is invisible to the List calls. Each resync round therefore also reads the tags of every
//! profile and space of the account and region from the Resource Groups Tagging API
//! (`GetResources`, 100 per page, shared by all domains): a resource whose tags there differ from
//! what it last saw lists its tags (ListTags is authoritative; the index may lag). A resource
//! the index does not show (the operator lacks `tag:GetResources`, or the index is behind) lists
//! its tags at least once per tag audit interval (`--tag-audit-interval`), spread over the
//! interval per resource. Tags are also listed again whenever Describe is needed.
//!
//! Resyncs are aligned on multiples of the resync interval ([`aligned`]), so the resources of a
//! domain come due together and share one set of List pages per interval.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, MemberDetails, MemberSummary, TaggedResource};

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

    /// The domain's user profiles, listed at most `max_age` ago.
    pub async fn profiles(
        &self,
        session: &AwsSession,
        domain_id: &str,
        max_age: Duration,
    ) -> Result<Listing<MemberSummary>, AwsError> {
        let lists = self.lists(session, domain_id);
        Self::cached(&lists.profiles, max_age, || session.list_user_profiles(domain_id)).await
    }

    /// The domain's spaces, listed at most `max_age` ago.
    pub async fn spaces(
        &self,
        session: &AwsSession,
        domain_id: &str,
        max_age: Duration,
    ) -> Result<Listing<MemberSummary>, AwsError> {
        let lists = self.lists(session, domain_id);
        Self::cached(&lists.spaces, max_age, || session.list_spaces(domain_id)).await
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

/// Tags as last listed (or as sent to Create), and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Tags {
    /// The tags.
    pub tags: BTreeMap<String, String>,
    /// When they were known to be right.
    pub checked: Instant,
}

/// What a resource last saw of its profile or space.
#[derive(Clone, Debug)]
pub enum Seen<T> {
    /// The operator created it at `at` with these tags and has not described it since.
    Created { at: Instant, tags: Tags },
    /// Describe at `at` returned `observed`.
    Described {
        at: Instant,
        observed: T,
        tags: Option<Tags>,
    },
}

/// A memory entry: where the resource lives and what it saw there.
#[derive(Clone, Debug)]
pub struct Entry<T> {
    /// Domain id.
    pub domain_id: String,
    /// Name in AWS.
    pub name: String,
    /// `metadata.generation` of the spec it was seen for.
    pub generation: i64,
    /// What was seen.
    pub seen: Seen<T>,
}

/// What a pass must ask AWS.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan<T> {
    /// Nothing: the remembered observation and tags are current (`confirmed`: the tag index
    /// read then shows the same tags).
    Reuse {
        observed: T,
        tags: BTreeMap<String, String>,
        confirmed: Option<Instant>,
    },
    /// Only ListTags (the tag audit is due); the observation is current.
    Tags { observed: T },
    /// Describe; reuse these tags if given, else list them too.
    Describe { tags: Option<Tags> },
    /// Nothing is known and the domain's listing does not have it: create it (if AWS says it
    /// exists after all, describe it).
    Create,
    /// It was just created and is not listed InService yet: wait.
    WaitCreating,
}

/// Gives access to the Describe result inside a remembered observation.
pub trait Observed: Clone {
    /// Name, ARN, status, LastModifiedTime.
    fn details(&self) -> &MemberDetails;
}

impl Observed for crate::aws::model::ObservedProfile {
    fn details(&self) -> &MemberDetails {
        &self.details
    }
}

impl Observed for crate::aws::model::ObservedSpace {
    fn details(&self) -> &MemberDetails {
        &self.details
    }
}

/// When the tags of the resource with this UID are next due for an audit, as a fraction of the
/// interval (between 0.5 and 1): audits of resources created together spread over time.
fn audit_fraction(uid: &str) -> f64 {
    let mut hasher = DefaultHasher::new();
    uid.hash(&mut hasher);
    1.0 - 0.5 * (hasher.finish() % 1000) as f64 / 1000.0
}

/// Whether tags checked at `checked` must be listed again.
pub fn audit_due(uid: &str, checked: Instant, audit_interval: Duration, now: Instant) -> bool {
    now.saturating_duration_since(checked) >= audit_interval.mul_f64(audit_fraction(uid))
}

/// The inputs of [`plan`].
pub struct Situation<'a> {
    /// The resource's UID (spreads tag audits).
    pub uid: &'a str,
    /// Domain id it should live in.
    pub domain_id: &'a str,
    /// Name it should have in AWS.
    pub name: &'a str,
    /// Current `metadata.generation`.
    pub generation: i64,
    /// The domain's listing of its kind.
    pub listing: &'a Listing<MemberSummary>,
    /// Whether status says the operator already created it in this domain.
    pub created_here: bool,
    /// How often tags must be listed at least (unless the tag index confirms them).
    pub audit_interval: Duration,
    /// The account's tag index, on resyncs.
    pub tag_index: Option<&'a Listing<TaggedResource>>,
    /// Now.
    pub now: Instant,
}

/// Decides what a pass must ask AWS (pure).
pub fn plan<T: Observed>(entry: Option<&Entry<T>>, s: &Situation) -> Plan<T> {
    let listed = s.listing.get(s.name);
    let Some(entry) = entry.filter(|e| e.domain_id == s.domain_id && e.name == s.name) else {
        return if listed.is_none() && !s.created_here {
            Plan::Create
        } else {
            Plan::Describe { tags: None }
        };
    };
    match &entry.seen {
        Seen::Created { at, tags } => {
            if s.listing.at <= *at {
                // The listing predates the creation: it cannot tell.
                return Plan::WaitCreating;
            }
            match listed {
                None => Plan::Describe { tags: None },
                Some(summary) if summary.status == "Pending" => Plan::WaitCreating,
                Some(_) => {
                    let fresh =
                        entry.generation == s.generation && !audit_due(s.uid, tags.checked, s.audit_interval, s.now);
                    Plan::Describe {
                        tags: fresh.then(|| tags.clone()),
                    }
                }
            }
        }
        Seen::Described { at, observed, tags } => {
            if entry.generation != s.generation {
                return Plan::Describe { tags: None };
            }
            let details = observed.details();
            // Only a listing newer than the observation can show a change.
            let unchanged = s.listing.at <= *at
                || listed.is_some_and(|l| l.status == details.status && l.last_modified == details.last_modified);
            if !unchanged {
                return Plan::Describe { tags: None };
            }
            let Some(tags) = tags else {
                return Plan::Tags {
                    observed: observed.clone(),
                };
            };
            // Only an index read after the tags were last known can tell.
            let index = s.tag_index.filter(|index| index.at > tags.checked);
            match index.and_then(|index| index.get(&details.arn).map(|indexed| (index.at, indexed))) {
                Some((at, indexed)) if *indexed == tags.tags => Plan::Reuse {
                    observed: observed.clone(),
                    tags: tags.tags.clone(),
                    confirmed: Some(at),
                },
                Some(_) => Plan::Tags {
                    observed: observed.clone(),
                },
                None if !audit_due(s.uid, tags.checked, s.audit_interval, s.now) => Plan::Reuse {
                    observed: observed.clone(),
                    tags: tags.tags.clone(),
                    confirmed: None,
                },
                None => Plan::Tags {
                    observed: observed.clone(),
                },
            }
        }
    }
}

/// What each resource (by UID) last saw of its profile or space.
pub struct Memory<T> {
    entries: Mutex<HashMap<String, Entry<T>>>,
}

impl<T> Default for Memory<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<T: Observed> Memory<T> {
    /// What a pass of the resource `s.uid` must ask AWS. Tags the index confirmed count as
    /// checked then, which postpones their audit.
    pub fn plan(&self, s: &Situation) -> Plan<T> {
        let mut entries = self.entries.lock().expect("memory lock");
        let plan = plan(entries.get(s.uid), s);
        if let Plan::Reuse {
            confirmed: Some(at), ..
        } = &plan
            && let Some(Entry {
                seen: Seen::Described { tags: Some(tags), .. },
                ..
            }) = entries.get_mut(s.uid)
        {
            tags.checked = *at;
        }
        plan
    }

    /// Remembers what was seen.
    pub fn remember(&self, uid: &str, entry: Entry<T>) {
        self.entries.lock().expect("memory lock").insert(uid.to_string(), entry);
    }

    /// Whether the resource saw its profile or space InService, for this generation: its passes
    /// are resyncs, not polls.
    pub fn settled(&self, uid: &str, generation: i64) -> bool {
        self.entries.lock().expect("memory lock").get(uid).is_some_and(|e| {
            e.generation == generation
                && matches!(&e.seen, Seen::Described { observed, .. } if observed.details().status == "InService")
        })
    }

    /// Records that the tags were listed (the observation itself is as old as before).
    pub fn tags_checked(&self, uid: &str, tags: Tags) {
        if let Some(Entry {
            seen: Seen::Described { tags: slot, .. },
            ..
        }) = self.entries.lock().expect("memory lock").get_mut(uid)
        {
            *slot = Some(tags);
        }
    }

    /// Forgets it: the next pass describes (after a change made by the operator, or deletion).
    pub fn forget(&self, uid: &str) {
        self.entries.lock().expect("memory lock").remove(uid);
    }

    /// How many resources are remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("memory lock").len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    use crate::aws::model::ObservedProfile;

    const HOUR: Duration = Duration::from_secs(3600);

    fn summary(name: &str, status: &str, modified: f64) -> MemberSummary {
        MemberSummary {
            name: name.into(),
            status: status.into(),
            last_modified: Some(modified),
            owner: None,
        }
    }

    fn observed(status: &str, modified: f64) -> ObservedProfile {
        ObservedProfile {
            details: MemberDetails {
                name: "alice".into(),
                arn: "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-1/alice".into(),
                status: status.into(),
                last_modified: Some(modified),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn tags(checked: Instant) -> Tags {
        Tags {
            tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
            checked,
        }
    }

    fn listing(at: Instant, items: Vec<MemberSummary>) -> Listing<MemberSummary> {
        Listing {
            at,
            items: Arc::new(items),
        }
    }

    fn situation<'a>(listing: &'a Listing<MemberSummary>, now: Instant) -> Situation<'a> {
        Situation {
            uid: "uid-1",
            domain_id: "d-1",
            name: "alice",
            generation: 1,
            listing,
            created_here: false,
            audit_interval: HOUR,
            tag_index: None,
            now,
        }
    }

    fn described(at: Instant, status: &str, modified: f64, checked: Option<Instant>) -> Entry<ObservedProfile> {
        Entry {
            domain_id: "d-1".into(),
            name: "alice".into(),
            generation: 1,
            seen: Seen::Described {
                at,
                observed: observed(status, modified),
                tags: checked.map(tags),
            },
        }
    }

    #[test]
    fn an_unchanged_member_costs_no_call() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let later = listing(
            t0 + Duration::from_secs(300),
            vec![summary("alice", "InService", 100.0)],
        );
        let plan = plan(Some(&entry), &situation(&later, t0 + Duration::from_secs(301)));
        assert!(matches!(plan, Plan::Reuse { .. }), "{plan:?}");
    }

    fn index(at: Instant, team: Option<&str>) -> Listing<TaggedResource> {
        let items = team
            .map(|team| TaggedResource {
                arn: observed("InService", 100.0).details.arn,
                tags: BTreeMap::from([("team".to_string(), team.to_string())]),
            })
            .into_iter()
            .collect();
        Listing {
            at,
            items: Arc::new(items),
        }
    }

    #[test]
    fn the_tag_index_confirms_tags_finds_tag_drift_and_otherwise_leaves_it_to_the_audit() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let round = t0 + HOUR * 2;
        let list = listing(round, vec![summary("alice", "InService", 100.0)]);
        let with = |index: &Listing<TaggedResource>| {
            let mut s = situation(&list, round);
            s.tag_index = Some(index);
            plan(Some(&entry), &s)
        };
        // Same tags: no call, and the tags count as checked at the index's time.
        let same = index(round, Some("a"));
        assert!(matches!(with(&same), Plan::Reuse { confirmed: Some(at), .. } if at == round));
        // Other tags: ListTags decides (the index may lag).
        assert!(matches!(with(&index(round, Some("b"))), Plan::Tags { .. }));
        // Not in the index, or an index older than the tags: the audit (due after 2 h).
        assert!(matches!(with(&index(round, None)), Plan::Tags { .. }));
        let fresh = described(round, "InService", 100.0, Some(round));
        let mut s = situation(&list, round + Duration::from_secs(1));
        let stale = index(round - Duration::from_secs(1), Some("b"));
        s.tag_index = Some(&stale);
        assert!(matches!(plan(Some(&fresh), &s), Plan::Reuse { confirmed: None, .. }));
    }

    #[test]
    fn tags_the_index_confirmed_are_not_audited_again_until_an_interval_after() {
        let memory = Memory::default();
        let t0 = Instant::now();
        memory.remember("uid-1", described(t0, "InService", 100.0, Some(t0)));
        let round = t0 + HOUR * 3 / 5;
        let list = listing(round, vec![summary("alice", "InService", 100.0)]);
        let same = index(round, Some("a"));
        let mut s = situation(&list, round);
        s.tag_index = Some(&same);
        assert!(matches!(memory.plan(&s), Plan::Reuse { .. }));
        // Without an index, 1.05 h after the first check (the audit would be due, at 0.5 to 1 h)
        // but 0.45 h after the confirmation.
        let later = t0 + HOUR * 21 / 20;
        let list = listing(later, vec![summary("alice", "InService", 100.0)]);
        let plan = memory.plan(&situation(&list, later));
        assert!(matches!(plan, Plan::Reuse { confirmed: None, .. }), "{plan:?}");
    }

    #[test]
    fn a_new_last_modified_time_or_status_means_describe() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let at = t0 + Duration::from_secs(300);
        for changed in [
            summary("alice", "InService", 200.0),
            summary("alice", "Updating", 100.0),
        ] {
            let later = listing(at, vec![changed]);
            assert_eq!(
                plan(Some(&entry), &situation(&later, at)),
                Plan::Describe { tags: None },
                "tags are listed again with it"
            );
        }
        let gone = listing(at, vec![]);
        assert_eq!(plan(Some(&entry), &situation(&gone, at)), Plan::Describe { tags: None });
    }

    #[test]
    fn a_listing_older_than_the_observation_shows_nothing_new() {
        let t0 = Instant::now();
        let entry = described(t0 + Duration::from_secs(10), "InService", 200.0, Some(t0));
        let older = listing(t0, vec![summary("alice", "Pending", 100.0)]);
        assert!(matches!(
            plan(Some(&entry), &situation(&older, t0 + Duration::from_secs(11))),
            Plan::Reuse { .. }
        ));
    }

    #[test]
    fn a_spec_change_means_describe() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let later = listing(t0 + Duration::from_secs(1), vec![summary("alice", "InService", 100.0)]);
        let mut s = situation(&later, t0 + Duration::from_secs(1));
        s.generation = 2;
        assert_eq!(plan(Some(&entry), &s), Plan::Describe { tags: None });
    }

    #[test]
    fn tags_are_audited_within_the_interval_spread_per_resource() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let half = t0 + HOUR / 2 - Duration::from_secs(1);
        let fresh = listing(half, vec![summary("alice", "InService", 100.0)]);
        assert!(matches!(
            plan(Some(&entry), &situation(&fresh, half)),
            Plan::Reuse { .. }
        ));
        let full = t0 + HOUR;
        let due = listing(full, vec![summary("alice", "InService", 100.0)]);
        assert!(matches!(plan(Some(&entry), &situation(&due, full)), Plan::Tags { .. }));
        // Resources come due at different points of the interval.
        let fractions: Vec<f64> = (0..20).map(|i| audit_fraction(&format!("uid-{i}"))).collect();
        assert!(fractions.iter().all(|f| (0.5..=1.0).contains(f)));
        assert!(fractions.iter().any(|f| *f < 0.75) && fractions.iter().any(|f| *f > 0.75));
    }

    #[test]
    fn unknown_members_are_created_only_when_the_listing_lacks_them() {
        let t0 = Instant::now();
        let empty = listing(t0, vec![]);
        assert_eq!(plan::<ObservedProfile>(None, &situation(&empty, t0)), Plan::Create);
        let mut s = situation(&empty, t0);
        s.created_here = true;
        assert_eq!(
            plan::<ObservedProfile>(None, &s),
            Plan::Describe { tags: None },
            "status says it was created: look before creating again"
        );
        let listed = listing(t0, vec![summary("alice", "InService", 1.0)]);
        assert_eq!(
            plan::<ObservedProfile>(None, &situation(&listed, t0)),
            Plan::Describe { tags: None }
        );
        // A memory of another domain (the domain was recreated) counts as nothing.
        let mut elsewhere = described(t0, "InService", 1.0, Some(t0));
        elsewhere.domain_id = "d-old".into();
        assert_eq!(plan(Some(&elsewhere), &situation(&empty, t0)), Plan::Create);
    }

    #[test]
    fn a_new_member_is_described_once_when_it_is_listed_in_service() {
        let t0 = Instant::now();
        let entry: Entry<ObservedProfile> = Entry {
            domain_id: "d-1".into(),
            name: "alice".into(),
            generation: 1,
            seen: Seen::Created { at: t0, tags: tags(t0) },
        };
        let stale = listing(t0 - Duration::from_secs(1), vec![]);
        assert_eq!(plan(Some(&entry), &situation(&stale, t0)), Plan::WaitCreating);
        let pending = listing(t0 + Duration::from_secs(1), vec![summary("alice", "Pending", 1.0)]);
        assert_eq!(plan(Some(&entry), &situation(&pending, t0)), Plan::WaitCreating);
        let ready = listing(t0 + Duration::from_secs(2), vec![summary("alice", "InService", 2.0)]);
        assert_eq!(
            plan(Some(&entry), &situation(&ready, t0 + Duration::from_secs(2))),
            Plan::Describe { tags: Some(tags(t0)) },
            "the tags sent to Create are reused"
        );
        let vanished = listing(t0 + Duration::from_secs(2), vec![]);
        assert_eq!(
            plan(Some(&entry), &situation(&vanished, t0)),
            Plan::Describe { tags: None }
        );
    }

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
