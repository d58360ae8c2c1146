//! What user profiles and spaces have in common: members of a domain with their own lifecycle,
//! a name unique in the domain (compared case-insensitively), an EFS UID, settings and tags,
//! and the Create/Describe/Update/Delete/List bookkeeping around them. Each kind
//! (`profile.rs`, `space.rs`) adds what differs through [`MemberKind`].

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::config::{Delays, Quotas};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::domain::{self, Domain, ensure_mutable};
use crate::state::settings::merge_settings;
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Lifecycle, Owner, Scope, State, Status, Step, sort_listing, ts};
use crate::validate::Input;

/// A user profile or a space; `kind` holds what only that kind has.
#[derive(Debug, Clone)]
pub struct Member<K> {
    pub name: String,
    pub arn: String,
    /// HomeEfsFileSystemUid.
    pub uid: String,
    pub life: Lifecycle,
    pub created: Millis,
    pub modified: Millis,
    /// `UserSettings` / `SpaceSettings` as stored.
    pub settings: Option<Value>,
    pub tags: Vec<Tag>,
    pub kind: K,
}

/// The differences between profiles and spaces: names in requests and messages, where they
/// live in a domain, and their kind-specific output members.
pub trait MemberKind: Sized {
    /// Resource name in messages and ARN-bearing errors: `UserProfile`, `Space`.
    const RESOURCE: &'static str;
    /// Human wording in messages: `User profile`, `Space`.
    const LABEL: &'static str;
    /// Plural wording in messages: `user profiles`, `spaces`.
    const PLURAL: &'static str;
    /// Resource type in the ARN: `user-profile`, `space`.
    const ARN_TYPE: &'static str;
    /// Request member naming the member: `UserProfileName`, `SpaceName`.
    const NAME_MEMBER: &'static str;
    /// Response member carrying the ARN: `UserProfileArn`, `SpaceArn`.
    const ARN_MEMBER: &'static str;
    /// Settings member of requests and Describe: `UserSettings`, `SpaceSettings`.
    const SETTINGS_MEMBER: &'static str;
    /// List operation, its result key and its name filter.
    const LIST_OPERATION: &'static str;
    const LIST_KEY: &'static str;
    const NAME_CONTAINS: &'static str;
    /// Service Quotas name and unit used in `ResourceLimitExceeded`.
    const QUOTA_NAME: &'static str;
    const QUOTA_UNIT: &'static str;

    fn all(domain: &Domain) -> &Vec<Member<Self>>;
    fn all_mut(domain: &mut Domain) -> &mut Vec<Member<Self>>;
    /// How apps name this member as their owner.
    fn owner(name: &str) -> Owner;
    fn quota(quotas: &Quotas) -> usize;
    /// Create, update and delete transition delays.
    fn delays(delays: &Delays) -> (f64, f64, f64);
    /// The name as it appears in the ARN (profiles are lower-cased).
    fn arn_name(name: &str) -> String;
    /// Kind-specific members of Describe.
    fn describe_extra(member: &Member<Self>, out: &mut Map<String, Value>);
    /// One entry of the List operation.
    fn details(member: &Member<Self>, domain_id: &str) -> Value;
}

impl<K: MemberKind> Member<K> {
    pub fn describe(&self, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        out.insert(K::ARN_MEMBER.into(), json!(self.arn));
        out.insert(K::NAME_MEMBER.into(), json!(self.name));
        out.insert("HomeEfsFileSystemUid".into(), json!(self.uid));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        if let Some(settings) = &self.settings {
            out.insert(K::SETTINGS_MEMBER.into(), settings.clone());
        }
        K::describe_extra(self, &mut out);
        Value::Object(out)
    }

    /// Describe without the domain id, plus tags (control API dumps).
    pub fn snapshot(&self) -> Value {
        let mut out = self.describe("");
        out.as_object_mut().map(|o| o.remove("DomainId"));
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out
    }

    /// Applies a due transition; false when the record is gone.
    pub fn tick(&mut self, now: Millis) -> bool {
        match self.life.step(now, None) {
            Some(Step::Gone) => false,
            Some(Step::Became(_, at)) => {
                self.modified = at;
                true
            }
            None => true,
        }
    }

    /// Common fields at the start of a member's life; the caller fills in the rest.
    fn new(name: &str, arn: String, uid: String, now: Millis, delay: f64, kind: K) -> Self {
        Self {
            name: name.into(),
            arn,
            uid,
            life: Lifecycle::start(Status::Pending, now, delay),
            created: now,
            modified: now,
            settings: None,
            tags: Vec::new(),
            kind,
        }
    }
}

/// Where a member is in its domain, found by name case-insensitively.
fn position<K: MemberKind>(domain: &Domain, name: &str) -> ApiResult<usize> {
    K::all(domain)
        .iter()
        .position(|m| m.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("{} {name} does not exist in domain {}.", K::LABEL, domain.id)))
}

/// Finds a member by name, case-insensitively.
pub fn find_in<'a, K: MemberKind>(domain: &'a mut Domain, name: &str) -> ApiResult<&'a mut Member<K>> {
    let i = position::<K>(domain, name)?;
    Ok(&mut K::all_mut(domain)[i])
}

/// Reads `DomainId` and the member's name and finds the member.
fn find_from<'a, K: MemberKind>(
    state: &'a mut State,
    scope: &Scope,
    input: &Input<'_>,
) -> ApiResult<&'a mut Member<K>> {
    let name = input.str_req(K::NAME_MEMBER)?;
    let domain = domain::find_from(state.partition(scope), input)?;
    find_in(domain, name)
}

/// Create: the checks every member goes through (domain InService, `check` for the kind's own
/// rules, unique name, quota), then a new Pending member with the request's tags and what
/// `build` makes of the domain and name: the kind's own fields and the settings to store.
/// Returns `{ "<Kind>Arn": arn }`.
pub fn create<K: MemberKind>(
    state: &mut State,
    scope: &Scope,
    now: Millis,
    input: &Input<'_>,
    check: impl FnOnce(&mut Domain) -> ApiResult<()>,
    build: impl FnOnce(&Domain, &str) -> (K, Option<Value>),
) -> ApiResult<Value> {
    let name = input.name_req(K::NAME_MEMBER)?;
    let tags = parse_tags(input, "Tags")?;
    let quota = K::quota(&state.quotas);
    let (delay, _, _) = K::delays(&state.delays);
    let part = state.partition(scope);
    let total: usize = part.domains.iter().map(|d| K::all(d).len()).sum();
    let domain = domain::find_from(part, input)?;
    if !domain.life.status.accepts_children() {
        return Err(ApiError::in_use(format!(
            "Domain [{}] is in {} state; {} can only be created in an InService domain.",
            domain.arn,
            domain.life.status.as_str(),
            K::PLURAL
        )));
    }
    check(domain)?;
    if K::all(domain).iter().any(|m| m.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::in_use(format!(
            "{} with name {name} already exists in domain {}.",
            K::LABEL,
            domain.id
        )));
    }
    if total >= quota {
        return Err(ApiError::limit_exceeded(format!(
            "The account-level service limit 'Maximum number of {} allowed per account' is {quota} {unit}, with current utilization of {total} {unit}.",
            K::QUOTA_NAME,
            unit = K::QUOTA_UNIT
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:{}/{}/{}",
        scope.region,
        scope.account,
        K::ARN_TYPE,
        domain.id,
        K::arn_name(name)
    );
    let uid = domain.next_uid();
    let (kind, settings) = build(domain, name);
    let mut member = Member::new(name, arn.clone(), uid, now, delay, kind);
    member.settings = settings;
    member.tags = tags;
    K::all_mut(domain).push(member);
    Ok(json!({ K::ARN_MEMBER: arn }))
}

pub fn describe<K: MemberKind>(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req(K::NAME_MEMBER)?;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let domain_id = domain.id.clone();
    Ok(find_in::<K>(domain, name)?.describe(&domain_id))
}

/// Update: refuses members in transition or Failed, merges the request's settings into the
/// stored ones (per the emulator's update-merge mode), lets `apply` change the kind's own
/// members, and starts the Updating transition. Returns `{ "<Kind>Arn": arn }`.
pub fn update<K: MemberKind>(
    state: &mut State,
    scope: &Scope,
    now: Millis,
    input: &Input<'_>,
    apply: impl FnOnce(&mut Member<K>),
) -> ApiResult<Value> {
    let settings = input.obj_opt(K::SETTINGS_MEMBER)?;
    let (_, delay, _) = K::delays(&state.delays);
    let mode = state.update_merge;
    let member = find_from::<K>(state, scope, input)?;
    ensure_mutable(K::RESOURCE, &member.arn, member.life.status, false)?;
    if let Some(update) = settings {
        merge_settings(member.settings.get_or_insert_with(|| json!({})), update, mode);
    }
    apply(member);
    member.life = Lifecycle::start(Status::Updating, now, delay);
    member.modified = now;
    Ok(json!({ K::ARN_MEMBER: member.arn }))
}

/// Delete: refuses members in transition and members whose apps still run (or whose
/// `blocker` says no), then starts the Deleting transition.
pub fn delete<K: MemberKind>(
    state: &mut State,
    scope: &Scope,
    now: Millis,
    body: &Value,
    blocker: impl FnOnce(&Domain, &Member<K>) -> Option<ApiError>,
) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req(K::NAME_MEMBER)?;
    let (_, _, delay) = K::delays(&state.delays);
    let domain = domain::find_from(state.partition(scope), &input)?;
    let i = position::<K>(domain, name)?;
    let member = &K::all(domain)[i];
    ensure_mutable(K::RESOURCE, &member.arn, member.life.status, true)?;
    let owner = K::owner(&member.name);
    let has_apps = domain
        .apps
        .iter()
        .any(|a| a.blocks_owner_deletion() && a.owner.same(&owner));
    if has_apps {
        return Err(ApiError::in_use(format!(
            "Unable to delete {} [{}] because App(s) are associated with it.",
            K::RESOURCE,
            member.arn
        )));
    }
    if let Some(err) = blocker(domain, member) {
        return Err(err);
    }
    let member = &mut K::all_mut(domain)[i];
    member.life = Lifecycle::start(Status::Deleting, now, delay);
    member.modified = now;
    Ok(json!({}))
}

/// List with `DomainIdEquals`, the name filter, sorting and pagination.
pub fn list<K: MemberKind>(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, K::LIST_OPERATION, 10, 1, 100)?;
    let domain_filter = input.str_opt("DomainIdEquals")?;
    let contains = input.str_opt(K::NAME_CONTAINS)?;
    let mut rows: Vec<(Millis, Millis, Value)> = Vec::new();
    for d in &state.partition(scope).domains {
        if domain_filter.is_some_and(|f| f != d.id) {
            continue;
        }
        for m in K::all(d) {
            if contains.is_some_and(|c| !m.name.contains(c)) {
                continue;
            }
            rows.push((m.created, m.modified, K::details(m, &d.id)));
        }
    }
    sort_listing(&mut rows, &input, &["CreationTime", "LastModifiedTime"], |r| (r.0, r.1))?;
    let (items, next) = paginate(rows.into_iter().map(|r| r.2).collect(), K::LIST_OPERATION, page);
    let mut out = json!({ K::LIST_KEY: items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
