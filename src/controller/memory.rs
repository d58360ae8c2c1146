//! What each profile or space resource last saw of its AWS counterpart, and the pure decision
//! of what a pass must ask AWS ([`read_plan`]).
//!
//! Each resource remembers the Describe result, its `LastModifiedTime` and status, and the tags.
//! Describe is called again only when a List newer than that memory shows another
//! `LastModifiedTime` or status, when the spec changed, or when the operator changed the
//! resource itself. Tags are listed again when the account's tag index shows other tags than
//! last seen (ListTags is authoritative; the index may lag); a resource the index does not show
//! (the operator lacks `tag:GetResources`, or the index is behind) lists its tags at least once
//! per tag audit interval (`--tag-audit-interval`), spread over the interval per resource. Tags
//! are also listed again whenever Describe is needed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::listings::Listing;
use crate::aws::model::{MemberDetails, MemberSummary, TaggedResource};

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
pub enum ReadPlan<T> {
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

/// The inputs of [`read_plan`].
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
pub fn read_plan<T: Observed>(entry: Option<&Entry<T>>, s: &Situation) -> ReadPlan<T> {
    let listed = s.listing.get(s.name);
    let Some(entry) = entry.filter(|e| e.domain_id == s.domain_id && e.name == s.name) else {
        return if listed.is_none() && !s.created_here {
            ReadPlan::Create
        } else {
            ReadPlan::Describe { tags: None }
        };
    };
    match &entry.seen {
        Seen::Created { at, tags } => {
            if s.listing.at <= *at {
                // The listing predates the creation: it cannot tell.
                return ReadPlan::WaitCreating;
            }
            match listed {
                None => ReadPlan::Describe { tags: None },
                Some(summary) if summary.status == "Pending" => ReadPlan::WaitCreating,
                Some(_) => {
                    let fresh =
                        entry.generation == s.generation && !audit_due(s.uid, tags.checked, s.audit_interval, s.now);
                    ReadPlan::Describe {
                        tags: fresh.then(|| tags.clone()),
                    }
                }
            }
        }
        Seen::Described { at, observed, tags } => {
            if entry.generation != s.generation {
                return ReadPlan::Describe { tags: None };
            }
            let details = observed.details();
            // Only a listing newer than the observation can show a change.
            let unchanged = s.listing.at <= *at
                || listed.is_some_and(|l| l.status == details.status && l.last_modified == details.last_modified);
            if !unchanged {
                return ReadPlan::Describe { tags: None };
            }
            let Some(tags) = tags else {
                return ReadPlan::Tags {
                    observed: observed.clone(),
                };
            };
            // Only an index read after the tags were last known can tell.
            let index = s.tag_index.filter(|index| index.at > tags.checked);
            match index.and_then(|index| index.get(&details.arn).map(|indexed| (index.at, indexed))) {
                Some((at, indexed)) if *indexed == tags.tags => ReadPlan::Reuse {
                    observed: observed.clone(),
                    tags: tags.tags.clone(),
                    confirmed: Some(at),
                },
                Some(_) => ReadPlan::Tags {
                    observed: observed.clone(),
                },
                None if !audit_due(s.uid, tags.checked, s.audit_interval, s.now) => ReadPlan::Reuse {
                    observed: observed.clone(),
                    tags: tags.tags.clone(),
                    confirmed: None,
                },
                None => ReadPlan::Tags {
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
    pub fn read_plan(&self, s: &Situation) -> ReadPlan<T> {
        let mut entries = self.entries.lock().expect("memory lock");
        let plan = read_plan(entries.get(s.uid), s);
        if let ReadPlan::Reuse {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
        let plan = read_plan(Some(&entry), &situation(&later, t0 + Duration::from_secs(301)));
        assert!(matches!(plan, ReadPlan::Reuse { .. }), "{plan:?}");
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
            read_plan(Some(&entry), &s)
        };
        // Same tags: no call, and the tags count as checked at the index's time.
        let same = index(round, Some("a"));
        assert!(matches!(with(&same), ReadPlan::Reuse { confirmed: Some(at), .. } if at == round));
        // Other tags: ListTags decides (the index may lag).
        assert!(matches!(with(&index(round, Some("b"))), ReadPlan::Tags { .. }));
        // Not in the index, or an index older than the tags: the audit (due after 2 h).
        assert!(matches!(with(&index(round, None)), ReadPlan::Tags { .. }));
        let fresh = described(round, "InService", 100.0, Some(round));
        let mut s = situation(&list, round + Duration::from_secs(1));
        let stale = index(round - Duration::from_secs(1), Some("b"));
        s.tag_index = Some(&stale);
        assert!(matches!(
            read_plan(Some(&fresh), &s),
            ReadPlan::Reuse { confirmed: None, .. }
        ));
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
        assert!(matches!(memory.read_plan(&s), ReadPlan::Reuse { .. }));
        // Without an index, 1.05 h after the first check (the audit would be due, at 0.5 to 1 h)
        // but 0.45 h after the confirmation.
        let later = t0 + HOUR * 21 / 20;
        let list = listing(later, vec![summary("alice", "InService", 100.0)]);
        let plan = memory.read_plan(&situation(&list, later));
        assert!(matches!(plan, ReadPlan::Reuse { confirmed: None, .. }), "{plan:?}");
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
                read_plan(Some(&entry), &situation(&later, at)),
                ReadPlan::Describe { tags: None },
                "tags are listed again with it"
            );
        }
        let gone = listing(at, vec![]);
        assert_eq!(
            read_plan(Some(&entry), &situation(&gone, at)),
            ReadPlan::Describe { tags: None }
        );
    }

    #[test]
    fn a_listing_older_than_the_observation_shows_nothing_new() {
        let t0 = Instant::now();
        let entry = described(t0 + Duration::from_secs(10), "InService", 200.0, Some(t0));
        let older = listing(t0, vec![summary("alice", "Pending", 100.0)]);
        assert!(matches!(
            read_plan(Some(&entry), &situation(&older, t0 + Duration::from_secs(11))),
            ReadPlan::Reuse { .. }
        ));
    }

    #[test]
    fn a_spec_change_means_describe() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let later = listing(t0 + Duration::from_secs(1), vec![summary("alice", "InService", 100.0)]);
        let mut s = situation(&later, t0 + Duration::from_secs(1));
        s.generation = 2;
        assert_eq!(read_plan(Some(&entry), &s), ReadPlan::Describe { tags: None });
    }

    #[test]
    fn tags_are_audited_within_the_interval_spread_per_resource() {
        let t0 = Instant::now();
        let entry = described(t0, "InService", 100.0, Some(t0));
        let half = t0 + HOUR / 2 - Duration::from_secs(1);
        let fresh = listing(half, vec![summary("alice", "InService", 100.0)]);
        assert!(matches!(
            read_plan(Some(&entry), &situation(&fresh, half)),
            ReadPlan::Reuse { .. }
        ));
        let full = t0 + HOUR;
        let due = listing(full, vec![summary("alice", "InService", 100.0)]);
        assert!(matches!(
            read_plan(Some(&entry), &situation(&due, full)),
            ReadPlan::Tags { .. }
        ));
        // Resources come due at different points of the interval.
        let fractions: Vec<f64> = (0..20).map(|i| audit_fraction(&format!("uid-{i}"))).collect();
        assert!(fractions.iter().all(|f| (0.5..=1.0).contains(f)));
        assert!(fractions.iter().any(|f| *f < 0.75) && fractions.iter().any(|f| *f > 0.75));
    }

    #[test]
    fn unknown_members_are_created_only_when_the_listing_lacks_them() {
        let t0 = Instant::now();
        let empty = listing(t0, vec![]);
        assert_eq!(
            read_plan::<ObservedProfile>(None, &situation(&empty, t0)),
            ReadPlan::Create
        );
        let mut s = situation(&empty, t0);
        s.created_here = true;
        assert_eq!(
            read_plan::<ObservedProfile>(None, &s),
            ReadPlan::Describe { tags: None },
            "status says it was created: look before creating again"
        );
        let listed = listing(t0, vec![summary("alice", "InService", 1.0)]);
        assert_eq!(
            read_plan::<ObservedProfile>(None, &situation(&listed, t0)),
            ReadPlan::Describe { tags: None }
        );
        // A memory of another domain (the domain was recreated) counts as nothing.
        let mut elsewhere = described(t0, "InService", 1.0, Some(t0));
        elsewhere.domain_id = "d-old".into();
        assert_eq!(read_plan(Some(&elsewhere), &situation(&empty, t0)), ReadPlan::Create);
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
        assert_eq!(read_plan(Some(&entry), &situation(&stale, t0)), ReadPlan::WaitCreating);
        let pending = listing(t0 + Duration::from_secs(1), vec![summary("alice", "Pending", 1.0)]);
        assert_eq!(
            read_plan(Some(&entry), &situation(&pending, t0)),
            ReadPlan::WaitCreating
        );
        let ready = listing(t0 + Duration::from_secs(2), vec![summary("alice", "InService", 2.0)]);
        assert_eq!(
            read_plan(Some(&entry), &situation(&ready, t0 + Duration::from_secs(2))),
            ReadPlan::Describe { tags: Some(tags(t0)) },
            "the tags sent to Create are reused"
        );
        let vanished = listing(t0 + Duration::from_secs(2), vec![]);
        assert_eq!(
            read_plan(Some(&entry), &situation(&vanished, t0)),
            ReadPlan::Describe { tags: None }
        );
    }
}
