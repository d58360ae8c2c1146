//! Domains: CreateDomain, DescribeDomain, UpdateDomain, DeleteDomain, ListDomains
//! and the domain part of the lazy lifecycle (including the asynchronous KMS failure).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::config::Delays;
use crate::error::{ApiError, ApiResult};
use crate::kms::{self, KmsPartition};
use crate::pagination::{page_request, paginate};
use crate::state::settings::{check_default_space_settings, check_user_settings, merge_settings};
use crate::state::tags::{Tag, parse_tags};
use crate::state::{
    App, EfsFileSystem, Lifecycle, Partition, Scope, Space, State, Status, Step, UserProfile, put_opt, ts,
};
use crate::validate::{Input, missing};

/// First HomeEfsFileSystemUid handed out in a domain.
pub const FIRST_UID: u64 = 200_001;

/// Members stored as sent and echoed by DescribeDomain.
const STORED_MEMBERS: &[&str] = &[
    "AuthMode",
    "DefaultUserSettings",
    "DomainSettings",
    "DefaultSpaceSettings",
    "SubnetIds",
    "VpcId",
    "AppNetworkAccessType",
    "AppSecurityGroupManagement",
    "KmsKeyId",
    "HomeEfsFileSystemKmsKeyId",
    "HomeEfsFileSystemCreation",
    "TagPropagation",
];

#[derive(Debug, Clone)]
pub struct Domain {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub url: String,
    pub life: Lifecycle,
    pub failure_reason: Option<String>,
    pub created: Millis,
    pub modified: Millis,
    /// Settings members exactly as sent (plus defaults for omitted enums).
    pub settings: Map<String, Value>,
    /// Home EFS id; reserved at creation, registered once the domain is InService.
    pub efs_id: Option<String>,
    /// `RetentionPolicy.HomeEfsFileSystem` given to DeleteDomain.
    pub retention: Option<String>,
    pub security_group_for_boundary: Option<String>,
    pub sso_instance_id: Option<String>,
    pub next_uid: u64,
    pub tags: Vec<Tag>,
    pub profiles: Vec<UserProfile>,
    pub spaces: Vec<Space>,
    pub apps: Vec<App>,
}

/// EFS and EBS registry changes produced by transitions, applied after the sweep.
pub enum VolumeEvent {
    EfsCreated(EfsFileSystem),
    DomainGone {
        fs_id: String,
        retention: String,
    },
    /// A space whose deletion completed: its EBS volume is deleted.
    SpaceGone {
        volume_id: String,
        at: Millis,
    },
}

impl Domain {
    pub fn setting_str(&self, name: &str) -> Option<&str> {
        self.settings.get(name).and_then(Value::as_str)
    }

    pub fn auth_mode(&self) -> &str {
        self.setting_str("AuthMode").unwrap_or("IAM")
    }

    fn subnets(&self) -> Vec<String> {
        self.settings
            .get("SubnetIds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    /// Apps that count as running for update restrictions: InService, Pending or Deleting.
    pub fn has_active_apps(&self, statuses: &[Status]) -> bool {
        self.apps.iter().any(|a| statuses.contains(&a.life.status))
    }

    pub fn next_uid(&mut self) -> String {
        let uid = self.next_uid;
        self.next_uid += 1;
        uid.to_string()
    }

    fn efs_visible(&self) -> bool {
        self.life.status != Status::Pending && self.life.status != Status::Failed
    }

    pub fn describe(&self) -> Value {
        let mut out = self.settings.clone();
        out.insert("DomainArn".into(), json!(self.arn));
        out.insert("DomainId".into(), json!(self.id));
        out.insert("DomainName".into(), json!(self.name));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        out.insert("Url".into(), json!(self.url));
        put_opt(&mut out, "FailureReason", self.failure_reason.clone().map(Value::from));
        if self.efs_visible() {
            put_opt(&mut out, "HomeEfsFileSystemId", self.efs_id.clone().map(Value::from));
        }
        put_opt(
            &mut out,
            "SecurityGroupIdForDomainBoundary",
            self.security_group_for_boundary.clone().map(Value::from),
        );
        put_opt(
            &mut out,
            "SingleSignOnManagedApplicationInstanceId",
            self.sso_instance_id.clone().map(Value::from),
        );
        Value::Object(out)
    }

    fn details(&self) -> Value {
        json!({
            "DomainArn": self.arn,
            "DomainId": self.id,
            "DomainName": self.name,
            "Status": self.life.status.as_str(),
            "CreationTime": ts(self.created),
            "LastModifiedTime": ts(self.modified),
            "Url": self.url,
        })
    }

    /// Everything about the domain and its children, tags included (control API).
    pub fn snapshot(&self, now: Millis) -> Value {
        let mut out = self.describe();
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out["RetentionPolicy"] = json!(self.retention);
        out["UserProfiles"] = self.profiles.iter().map(|p| p.snapshot()).collect();
        out["Spaces"] = self.spaces.iter().map(|s| s.snapshot()).collect();
        out["Apps"] = self.apps.iter().map(|a| a.snapshot(self, now)).collect();
        out
    }
}

/// Looks a domain up by id in the caller's partition.
pub fn find<'a>(part: &'a mut Partition, id: &str) -> ApiResult<&'a mut Domain> {
    part.domains
        .iter_mut()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found(format!("Domain with id {id} does not exist.")))
}

/// Reads and looks up `DomainId`.
pub fn find_from<'a>(part: &'a mut Partition, input: &Input<'_>) -> ApiResult<&'a mut Domain> {
    find(part, input.str_req("DomainId")?)
}

/// `SubnetIds` of a request, if given.
fn subnet_ids(input: &Input<'_>) -> ApiResult<Option<Vec<String>>> {
    Ok(input
        .str_list_opt("SubnetIds")?
        .map(|subnets| subnets.into_iter().map(String::from).collect()))
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("DomainName")?;
    let dus = input
        .obj_opt("DefaultUserSettings")?
        .ok_or_else(|| missing("defaultUserSettings"))?;
    check_user_settings(dus, "defaultUserSettings", true)?;
    // Stricter than the model (which allows omitting them for Unified Studio):
    // CloudFormation requires both, and so does the emulator.
    if input.str_opt("VpcId")?.is_none() {
        return Err(missing("vpcId"));
    }
    if input.arr_opt("SubnetIds")?.is_none() {
        return Err(missing("subnetIds"));
    }
    let domain_settings = input.obj_opt("DomainSettings")?;
    if input.str_opt("AppSecurityGroupManagement")?.is_some()
        && domain_settings.is_none_or(|ds| !ds.contains_key("RStudioServerProDomainSettings"))
    {
        return Err(ApiError::validation(
            "AppSecurityGroupManagement can only be set for Rstudio enabled domains.",
        ));
    }
    if let Some(dss) = input.obj_opt("DefaultSpaceSettings")? {
        check_default_space_settings(dss)?;
    }
    let tags = parse_tags(&input, "Tags")?;

    let quota = state.quotas.domains;
    let part = state.partition(scope);
    if part.domains.iter().any(|d| d.name == name) {
        return Err(ApiError::in_use(format!(
            "Domain with name {name} already exists in this account and region."
        )));
    }
    if part.domains.len() >= quota {
        return Err(ApiError::limit_exceeded(format!(
            "The account-level service limit 'Total domains' is {quota} Domains, with current utilization of {} Domains. Please use AWS Service Quotas to request an increase to this quota.",
            part.domains.len()
        )));
    }

    let id = format!("d-{}", state.random_alnum(12));
    let mut settings = Map::new();
    for member in STORED_MEMBERS {
        if let Some(v) = input.raw(member) {
            settings.insert((*member).into(), v.clone());
        }
    }
    settings
        .entry("AppNetworkAccessType")
        .or_insert_with(|| json!("PublicInternetOnly"));
    settings
        .entry("HomeEfsFileSystemCreation")
        .or_insert_with(|| json!("Enabled"));
    settings.entry("TagPropagation").or_insert_with(|| json!("DISABLED"));
    let efs_id = (settings.get("HomeEfsFileSystemCreation") == Some(&json!("Enabled")))
        .then(|| format!("fs-{}", state.random_hex(17)));
    let vpc_only = settings.get("AppNetworkAccessType") == Some(&json!("VpcOnly"));
    let sg = vpc_only.then(|| format!("sg-{}", state.random_hex(17)));
    let sso = (input.str_opt("AuthMode")? == Some("SSO")).then(|| format!("ins-{}", state.random_hex(16)));
    let domain = Domain {
        arn: format!("arn:aws:sagemaker:{}:{}:domain/{id}", scope.region, scope.account),
        url: format!("https://{id}.studio.{}.sagemaker.aws", scope.region),
        id: id.clone(),
        name: name.into(),
        life: Lifecycle::start(Status::Pending, now, state.delays.domain_create),
        failure_reason: None,
        created: now,
        modified: now,
        settings,
        efs_id,
        retention: None,
        security_group_for_boundary: sg,
        sso_instance_id: sso,
        next_uid: FIRST_UID,
        tags,
        profiles: Vec::new(),
        spaces: Vec::new(),
        apps: Vec::new(),
    };
    let out = json!({"DomainArn": domain.arn, "DomainId": domain.id, "Url": domain.url});
    state.partition(scope).domains.push(domain);
    Ok(out)
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    Ok(find_from(state.partition(scope), &input)?.describe())
}

/// Refuses Update/Delete while a transition is running (stricter choice for an
/// UNCONFIRMED behaviour) or, for updates, after a failed creation.
pub fn ensure_mutable(kind: &str, arn: &str, status: Status, deleting_allowed_from_failed: bool) -> ApiResult<()> {
    if status.is_transitional() || (status == Status::Failed && !deleting_allowed_from_failed) {
        return Err(ApiError::in_use(format!(
            "{kind} [{arn}] is in {} state and cannot be modified.",
            status.as_str()
        )));
    }
    Ok(())
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let delay = state.delays.domain_update;
    let new_subnets = subnet_ids(&input)?;
    let access = input.str_opt("AppNetworkAccessType")?;
    let efs_creation = input.str_opt("HomeEfsFileSystemCreation")?;
    if let Some(dus) = input.obj_opt("DefaultUserSettings")? {
        check_user_settings(dus, "defaultUserSettings", false)?;
    }
    if let Some(dss) = input.obj_opt("DefaultSpaceSettings")? {
        check_default_space_settings(dss)?;
    }
    let ds_update = input.obj_opt("DomainSettingsForUpdate")?;
    if access == Some("VpcOnly") && (input.str_opt("VpcId")?.is_none() || input.arr_opt("SubnetIds")?.is_none()) {
        return Err(ApiError::validation(
            "VpcId and Subnet IDs are required for updating domains to VpcOnly mode.",
        ));
    }
    let new_efs = format!("fs-{}", state.random_hex(17));
    let mode = state.update_merge;
    let domain = find_from(state.partition(scope), &input)?;
    ensure_mutable("Domain", &domain.arn, domain.life.status, false)?;
    let running = [Status::InService, Status::Pending, Status::Deleting];
    if let Some(access) = access
        && domain.setting_str("AppNetworkAccessType") != Some(access)
        && domain.has_active_apps(&running)
    {
        return Err(ApiError::validation(format!(
            "Unable to update AppNetworkAccessType of Domain [{}] while apps are InService, Pending or Deleting. Delete all apps in the domain and try again.",
            domain.arn
        )));
    }
    if let Some(subnets) = &new_subnets {
        let removed = domain.subnets().iter().any(|s| !subnets.contains(s));
        if removed && domain.has_active_apps(&running) {
            return Err(ApiError::validation(format!(
                "Unable to remove subnets from Domain [{}] while apps are InService, Pending or Deleting.",
                domain.arn
            )));
        }
    }
    if let Some(vpc) = input.str_opt("VpcId")?
        && domain.setting_str("VpcId").is_some_and(|v| v != vpc)
    {
        return Err(ApiError::validation(format!(
            "VpcId of Domain [{}] cannot be changed.",
            domain.arn
        )));
    }
    if efs_creation == Some("Disabled") && domain.setting_str("HomeEfsFileSystemCreation") == Some("Enabled") {
        return Err(ApiError::validation(
            "HomeEfsFileSystemCreation can only be changed from Disabled to Enabled.",
        ));
    }
    if let Some(ds) = ds_update
        && ds.contains_key("ExecutionRoleIdentityConfig")
        && domain.has_active_apps(&[Status::InService, Status::Pending])
    {
        return Err(ApiError::validation(format!(
            "Unable to update ExecutionRoleIdentityConfig of Domain [{}] with InService or Pending apps.",
            domain.arn
        )));
    }

    for member in ["DefaultUserSettings", "DefaultSpaceSettings"] {
        if let Some(update) = input.obj_opt(member)? {
            merge_settings(domain.settings.entry(member).or_insert(json!({})), update, mode);
        }
    }
    if let Some(ds) = ds_update {
        let mut renamed = ds.clone();
        if let Some(r) = renamed.remove("RStudioServerProDomainSettingsForUpdate") {
            renamed.insert("RStudioServerProDomainSettings".into(), r);
        }
        merge_settings(
            domain.settings.entry("DomainSettings").or_insert(json!({})),
            &renamed,
            mode,
        );
    }
    for member in [
        "SubnetIds",
        "VpcId",
        "AppNetworkAccessType",
        "AppSecurityGroupManagement",
        "TagPropagation",
        "HomeEfsFileSystemCreation",
    ] {
        if let Some(v) = input.raw(member) {
            domain.settings.insert(member.into(), v.clone());
        }
    }
    let efs_added = efs_creation == Some("Enabled") && domain.efs_id.is_none();
    if efs_added {
        domain.efs_id = Some(new_efs.clone());
    }
    domain.life = Lifecycle::start(Status::Updating, now, delay);
    domain.modified = now;
    let arn = domain.arn.clone();
    let domain_id = domain.id.clone();
    if efs_added {
        state.efs.push(EfsFileSystem {
            file_system_id: new_efs,
            account: scope.account.clone(),
            region: scope.region.clone(),
            domain_id,
            state: "available".into(),
            retention: None,
        });
    }
    Ok(json!({ "DomainArn": arn }))
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let delay = state.delays.domain_delete;
    let retention = match input.obj_opt("RetentionPolicy")? {
        Some(policy) => Input::nested(policy, "retentionPolicy")
            .enum_opt("HomeEfsFileSystem", &["Retain", "Delete"])?
            .unwrap_or("Retain"),
        None => "Retain",
    };
    let domain = find_from(state.partition(scope), &input)?;
    ensure_mutable("Domain", &domain.arn, domain.life.status, true)?;
    if !domain.profiles.is_empty() {
        return Err(ApiError::in_use(format!(
            "Unable to delete Domain [{}] because UserProfile(s) are associated with it. Delete the UserProfile(s) and try again.",
            domain.arn
        )));
    }
    if !domain.spaces.is_empty() {
        return Err(ApiError::in_use(format!(
            "Unable to delete Domain [{}] because Space(s) are associated with it. Delete the Space(s) and try again.",
            domain.arn
        )));
    }
    domain.retention = Some(retention.into());
    domain.life = Lifecycle::start(Status::Deleting, now, delay);
    domain.modified = now;
    Ok(json!({}))
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListDomains", 10, 1, 100)?;
    let items: Vec<Value> = state.partition(scope).domains.iter().map(Domain::details).collect();
    let (items, next) = paginate(items, "ListDomains", page);
    let mut out = json!({ "Domains": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

/// Why a domain's KMS key prevents creating its EFS volume, if it does.
fn kms_failure(domain: &Domain, scope: &Scope, keys: &BTreeMap<Scope, KmsPartition>) -> Option<String> {
    let key_ref = domain
        .setting_str("KmsKeyId")
        .or_else(|| domain.setting_str("HomeEfsFileSystemKmsKeyId"))?;
    let problem = kms::usability_problem(keys, scope, key_ref)?;
    Some(format!(
        "Unable to create Amazon EFS for domain '{}' because KMS key '{key_ref}' {problem}.",
        domain.id
    ))
}

/// Applies due transitions of one partition's domains and their children.
pub fn tick_domains(
    scope: &Scope,
    part: &mut Partition,
    keys: &BTreeMap<Scope, KmsPartition>,
    delays: &Delays,
    now: Millis,
    events: &mut Vec<VolumeEvent>,
) {
    part.domains.retain_mut(|domain| {
        domain.profiles.retain_mut(|p| p.tick(now));
        domain.spaces.retain_mut(|s| {
            let due = s.life.due.unwrap_or(now);
            let stays = s.tick(now);
            if !stays && let Some(volume_id) = s.kind.ebs_volume_id.clone() {
                events.push(VolumeEvent::SpaceGone { volume_id, at: due });
            }
            stays
        });
        domain.apps.retain_mut(|a| a.tick(now, delays.deleted_app_retention));
        if domain.life.status == Status::Pending
            && let Some(due) = domain.life.due.filter(|d| *d <= now)
            && let Some(reason) = kms_failure(domain, scope, keys)
        {
            domain.life = Lifecycle::stable(Status::Failed);
            domain.failure_reason = Some(reason);
            domain.modified = due;
            domain.efs_id = None;
            return true;
        }
        let was_pending = domain.life.status == Status::Pending;
        match domain.life.step(now, None) {
            None => true,
            Some(Step::Became(_, at)) => {
                domain.modified = at;
                // The home EFS volume comes into existence when creation completes.
                if was_pending && let Some(fs) = &domain.efs_id {
                    events.push(VolumeEvent::EfsCreated(EfsFileSystem {
                        file_system_id: fs.clone(),
                        account: scope.account.clone(),
                        region: scope.region.clone(),
                        domain_id: domain.id.clone(),
                        state: "available".into(),
                        retention: None,
                    }));
                }
                true
            }
            Some(Step::Gone) => {
                if let Some(fs) = &domain.efs_id {
                    events.push(VolumeEvent::DomainGone {
                        fs_id: fs.clone(),
                        retention: domain.retention.clone().unwrap_or_else(|| "Retain".into()),
                    });
                }
                false
            }
        }
    });
}
