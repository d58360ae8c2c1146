//! SageMaker images and their versions (custom images for Studio): CreateImage, DescribeImage,
//! UpdateImage, DeleteImage, ListImages, CreateImageVersion, DescribeImageVersion,
//! UpdateImageVersion, DeleteImageVersion, ListImageVersions and ListAliases.
//!
//! Statuses follow the emulated clock like the Studio resources (CREATING -> CREATED or
//! CREATE_FAILED, UPDATING -> CREATED, DELETING -> gone), stored as a [`Lifecycle`] whose
//! Studio statuses map onto the image status names.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Lifecycle, Partition, Scope, State, Status, Step, put_opt, ts};
use crate::validate::Input;

/// Optional descriptive members of an image version, stored and described as sent.
const VERSION_PROPERTIES: &[&str] = &[
    "VendorGuidance",
    "JobType",
    "MLFramework",
    "ProgrammingLang",
    "Processor",
    "Horovod",
    "ReleaseNotes",
];

#[derive(Debug, Clone)]
pub struct ImageVersion {
    pub version: i64,
    pub arn: String,
    pub base_image: String,
    /// The resolved image (by digest) once the version is CREATED.
    pub container_image: Option<String>,
    pub client_token: String,
    pub aliases: Vec<String>,
    /// VERSION_PROPERTIES as sent.
    pub properties: Map<String, Value>,
    pub life: Lifecycle,
    pub failure_reason: Option<String>,
    pub created: Millis,
    pub modified: Millis,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub life: Lifecycle,
    pub created: Millis,
    pub modified: Millis,
    pub tags: Vec<Tag>,
    pub versions: Vec<ImageVersion>,
    /// Version numbers are never reused, also after DeleteImageVersion.
    pub next_version: i64,
}

/// ImageStatus / ImageVersionStatus name of a lifecycle status.
fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pending => "CREATING",
        Status::InService => "CREATED",
        Status::Updating => "UPDATING",
        Status::Deleting | Status::Deleted => "DELETING",
        Status::Failed => "CREATE_FAILED",
        Status::UpdateFailed => "UPDATE_FAILED",
        Status::DeleteFailed => "DELETE_FAILED",
    }
}

/// Whether `BaseImage` is an Amazon ECR image URI
/// (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]`).
pub fn is_ecr_uri(uri: &str) -> bool {
    crate::validate::matches_pattern(
        "[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})?",
        uri,
    )
}

impl ImageVersion {
    fn status(&self) -> &'static str {
        status_name(self.life.status)
    }

    fn describe(&self, image: &Image) -> Value {
        let mut out = self.properties.clone();
        out.insert("BaseImage".into(), json!(self.base_image));
        put_opt(
            &mut out,
            "ContainerImage",
            self.container_image.clone().map(Value::from),
        );
        out.insert("CreationTime".into(), ts(self.created));
        put_opt(&mut out, "FailureReason", self.failure_reason.clone().map(Value::from));
        out.insert("ImageArn".into(), json!(image.arn));
        out.insert("ImageVersionArn".into(), json!(self.arn));
        out.insert("ImageVersionStatus".into(), json!(self.status()));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        out.insert("Version".into(), json!(self.version));
        Value::Object(out)
    }

    fn summary(&self, image: &Image) -> Value {
        let mut out = Map::new();
        out.insert("CreationTime".into(), ts(self.created));
        put_opt(&mut out, "FailureReason", self.failure_reason.clone().map(Value::from));
        out.insert("ImageArn".into(), json!(image.arn));
        out.insert("ImageVersionArn".into(), json!(self.arn));
        out.insert("ImageVersionStatus".into(), json!(self.status()));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        out.insert("Version".into(), json!(self.version));
        Value::Object(out)
    }

    /// Applies a due transition; false when the record is gone. A version whose BaseImage is
    /// not an ECR image URI fails when its creation completes.
    fn tick(&mut self, now: Millis) -> bool {
        if self.life.status == Status::Pending
            && let Some(due) = self.life.due.filter(|d| *d <= now)
            && !is_ecr_uri(&self.base_image)
        {
            self.life = Lifecycle::stable(Status::Failed);
            self.modified = due;
            self.failure_reason = Some(format!(
                "Unable to pull image {}: it is not an Amazon ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]).",
                self.base_image
            ));
            return true;
        }
        let was_pending = self.life.status == Status::Pending;
        match self.life.step(now, None) {
            Some(Step::Gone) => false,
            Some(Step::Became(_, at)) => {
                self.modified = at;
                if was_pending {
                    let image = repository(&self.base_image);
                    self.container_image = Some(format!("{image}@sha256:{}", digest(&self.base_image)));
                }
                true
            }
            None => true,
        }
    }
}

/// An image reference without its tag or digest.
fn repository(uri: &str) -> &str {
    let without_digest = uri.split('@').next().unwrap_or(uri);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    }
}

/// A stand-in for the registry digest of an image reference, the same for the same reference.
fn digest(reference: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4u8)
        .map(|salt| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (salt, reference).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

impl Image {
    fn status(&self) -> &'static str {
        status_name(self.life.status)
    }

    fn describe(&self) -> Value {
        let mut out = self.summary();
        out.insert("RoleArn".into(), json!(self.role_arn));
        Value::Object(out)
    }

    fn summary(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("CreationTime".into(), ts(self.created));
        put_opt(&mut out, "Description", self.description.clone().map(Value::from));
        put_opt(&mut out, "DisplayName", self.display_name.clone().map(Value::from));
        out.insert("ImageArn".into(), json!(self.arn));
        out.insert("ImageName".into(), json!(self.name));
        out.insert("ImageStatus".into(), json!(self.status()));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        out
    }

    /// Everything, versions and aliases and tags included (control API dumps).
    pub fn snapshot(&self) -> Value {
        let mut out = self.describe();
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out["Versions"] = self
            .versions
            .iter()
            .map(|v| {
                let mut d = v.describe(self);
                d["Aliases"] = json!(v.aliases);
                d
            })
            .collect();
        out
    }

    /// Applies due transitions of the image and its versions; false when the image is gone.
    pub fn tick(&mut self, now: Millis) -> bool {
        self.versions.retain_mut(|v| v.tick(now));
        match self.life.step(now, None) {
            Some(Step::Gone) => false,
            Some(Step::Became(_, at)) => {
                self.modified = at;
                true
            }
            None => true,
        }
    }

    /// The newest version that is not being deleted (what "latest" means).
    fn latest(&self) -> Option<&ImageVersion> {
        self.versions
            .iter()
            .filter(|v| v.life.status != Status::Deleting)
            .max_by_key(|v| v.version)
    }

    fn alias_owner(&self, alias: &str) -> Option<&ImageVersion> {
        self.versions.iter().find(|v| v.aliases.iter().any(|a| a == alias))
    }
}

/// Image names are compared case-insensitively (their ARNs are lower-cased).
fn position(part: &Partition, name: &str) -> ApiResult<usize> {
    part.images
        .iter()
        .position(|i| i.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("Image {name} does not exist.")))
}

fn find<'a>(state: &'a mut State, scope: &Scope, input: &Input<'_>) -> ApiResult<&'a mut Image> {
    let name = input.str_req("ImageName")?;
    let part = state.partition(scope);
    let i = position(part, name)?;
    Ok(&mut part.images[i])
}

/// Domain, profile and space settings of a partition that attach `image` through
/// `CustomImages`, with the pinned `ImageVersionNumber` of each attachment (None: latest).
fn attachments(part: &Partition, image: &str) -> Vec<(String, Option<i64>)> {
    fn collect(owner: &str, settings: &Value, image: &str, out: &mut Vec<(String, Option<i64>)>) {
        match settings {
            Value::Object(obj) => {
                for (k, v) in obj {
                    if k == "CustomImages"
                        && let Some(items) = v.as_array()
                    {
                        for item in items {
                            let name = item.get("ImageName").and_then(Value::as_str).unwrap_or_default();
                            if name.eq_ignore_ascii_case(image) {
                                let pinned = item.get("ImageVersionNumber").and_then(Value::as_i64);
                                out.push((owner.to_string(), pinned));
                            }
                        }
                    } else {
                        collect(owner, v, image, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(owner, v, image, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for d in &part.domains {
        collect(&d.arn, &Value::Object(d.settings.clone()), image, &mut out);
        for p in &d.profiles {
            if let Some(s) = &p.settings {
                collect(&p.arn, s, image, &mut out);
            }
        }
        for s in &d.spaces {
            if let Some(settings) = &s.settings {
                collect(&s.arn, settings, image, &mut out);
            }
        }
    }
    out
}

pub fn create_image(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("ImageName")?;
    let role = input.str_req("RoleArn")?;
    let tags = parse_tags(&input, "Tags")?;
    let delay = state.delays.image_create;
    let part = state.partition(scope);
    if part.images.iter().any(|i| i.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::in_use(format!(
            "The Image with ImageName {name} already exists. Please use a different ImageName."
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:image/{}",
        scope.region,
        scope.account,
        name.to_ascii_lowercase()
    );
    part.images.push(Image {
        name: name.into(),
        arn: arn.clone(),
        role_arn: role.into(),
        display_name: input.str_opt("DisplayName")?.map(String::from),
        description: input.str_opt("Description")?.map(String::from),
        life: Lifecycle::start(Status::Pending, now, delay),
        created: now,
        modified: now,
        tags,
        versions: Vec::new(),
        next_version: 1,
    });
    Ok(json!({ "ImageArn": arn }))
}

pub fn describe_image(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    Ok(find(state, scope, &Input::new(body))?.describe())
}

/// Refuses changes while an image is being created, updated or deleted.
fn ensure_settled(image: &Image) -> ApiResult<()> {
    if image.life.status.is_transitional() {
        return Err(ApiError::in_use(format!(
            "Image {} is in {} status and cannot be modified.",
            image.name,
            image.status()
        )));
    }
    Ok(())
}

pub fn update_image(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let deletes = input.str_list_opt("DeleteProperties")?.unwrap_or_default();
    for property in &deletes {
        if input.raw(property).is_some() {
            return Err(ApiError::validation(format!(
                "{property} cannot be both updated and deleted in the same request."
            )));
        }
    }
    let delay = state.delays.image_update;
    let image = find(state, scope, &input)?;
    ensure_settled(image)?;
    if let Some(role) = input.str_opt("RoleArn")? {
        image.role_arn = role.into();
    }
    if let Some(d) = input.str_opt("DisplayName")? {
        image.display_name = Some(d.into());
    }
    if let Some(d) = input.str_opt("Description")? {
        image.description = Some(d.into());
    }
    for property in deletes {
        match property {
            "DisplayName" => image.display_name = None,
            _ => image.description = None,
        }
    }
    image.life = Lifecycle::start(Status::Updating, now, delay);
    image.modified = now;
    Ok(json!({ "ImageArn": image.arn }))
}

/// Deletes the image and all its versions, unless a domain, profile or space still attaches it.
pub fn delete_image(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("ImageName")?;
    let delay = state.delays.image_delete;
    let part = state.partition(scope);
    let i = position(part, name)?;
    ensure_settled(&part.images[i])?;
    if let Some((owner, _)) = attachments(part, name).into_iter().next() {
        return Err(ApiError::in_use(format!(
            "Image {name} is attached to [{owner}] through CustomImages; detach it first."
        )));
    }
    let image = &mut part.images[i];
    image.life = Lifecycle::start(Status::Deleting, now, delay);
    image.modified = now;
    for version in &mut image.versions {
        version.life = Lifecycle::start(Status::Deleting, now, delay);
        version.modified = now;
    }
    Ok(json!({}))
}

/// `CreationTime*`/`LastModifiedTime*` (or `ModifiedTime*`) bounds, epoch seconds.
pub(crate) struct TimeBounds {
    created_after: Option<f64>,
    created_before: Option<f64>,
    modified_after: Option<f64>,
    modified_before: Option<f64>,
}

impl TimeBounds {
    pub(crate) fn read(input: &Input<'_>, modified: &str) -> ApiResult<Self> {
        Ok(Self {
            created_after: input.f64_opt("CreationTimeAfter")?,
            created_before: input.f64_opt("CreationTimeBefore")?,
            modified_after: input.f64_opt(&format!("{modified}After"))?,
            modified_before: input.f64_opt(&format!("{modified}Before"))?,
        })
    }

    pub(crate) fn contains(&self, created: Millis, modified: Millis) -> bool {
        let (c, m) = (created as f64 / 1000.0, modified as f64 / 1000.0);
        self.created_after.is_none_or(|b| c > b)
            && self.created_before.is_none_or(|b| c < b)
            && self.modified_after.is_none_or(|b| m > b)
            && self.modified_before.is_none_or(|b| m < b)
    }
}

/// Sorts by the chosen key; `descending` unless the request says otherwise (the image lists'
/// default order is DESCENDING).
fn sort_rows<K: Ord>(rows: &mut [(K, Value)], descending: bool) {
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        rows.reverse();
    }
}

fn with_token(mut out: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    out
}

pub fn list_images(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListImages", 10, 1, 100)?;
    let bounds = TimeBounds::read(&input, "LastModifiedTime")?;
    let contains = input.str_opt("NameContains")?;
    let by = input.str_opt("SortBy")?.unwrap_or("CREATION_TIME");
    let descending = input.str_opt("SortOrder")? != Some("ASCENDING");
    let mut rows: Vec<((Millis, String), Value)> = state
        .partition(scope)
        .images
        .iter()
        .filter(|i| contains.is_none_or(|c| i.name.contains(c)) && bounds.contains(i.created, i.modified))
        .map(|i| {
            let key = match by {
                "IMAGE_NAME" => (0, i.name.clone()),
                "LAST_MODIFIED_TIME" => (i.modified, String::new()),
                _ => (i.created, String::new()),
            };
            (key, Value::Object(i.summary()))
        })
        .collect();
    sort_rows(&mut rows, descending);
    let (items, next) = paginate(rows.into_iter().map(|r| r.1).collect(), "ListImages", page);
    Ok(with_token(json!({ "Images": items }), next))
}

/// Checks aliases for uniqueness in the request and against the image's other versions.
fn check_new_aliases(image: &Image, aliases: &[&str], version: Option<i64>) -> ApiResult<()> {
    for (i, alias) in aliases.iter().enumerate() {
        if aliases[..i].contains(alias) {
            return Err(ApiError::validation(format!("Alias {alias} is given more than once.")));
        }
        if let Some(owner) = image.alias_owner(alias)
            && Some(owner.version) != version
        {
            return Err(ApiError::validation(format!(
                "Alias {alias} is already associated with version {} of image {}.",
                owner.version, image.name
            )));
        }
    }
    Ok(())
}

pub fn create_image_version(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let base_image = input.str_req("BaseImage")?;
    let token = input.str_req("ClientToken")?;
    let aliases = input.str_list_opt("Aliases")?.unwrap_or_default();
    let delay = state.delays.image_version_create;
    let (region, account) = (scope.region.clone(), scope.account.clone());
    let image = find(state, scope, &input)?;
    // ClientToken makes the call idempotent: a retry answers the version it created.
    if let Some(existing) = image.versions.iter().find(|v| v.client_token == token) {
        return Ok(json!({ "ImageVersionArn": existing.arn }));
    }
    if image.life.status != Status::InService {
        return Err(ApiError::validation(format!(
            "Image {} is in an invalid state.",
            image.name
        )));
    }
    check_new_aliases(image, &aliases, None)?;
    let version = image.next_version;
    image.next_version += 1;
    let arn = format!(
        "arn:aws:sagemaker:{region}:{account}:image-version/{}/{version}",
        image.name.to_ascii_lowercase()
    );
    let mut properties = Map::new();
    for member in VERSION_PROPERTIES {
        put_opt(&mut properties, member, input.raw(member).cloned());
    }
    image.versions.push(ImageVersion {
        version,
        arn: arn.clone(),
        base_image: base_image.into(),
        container_image: None,
        client_token: token.into(),
        aliases: aliases.into_iter().map(String::from).collect(),
        properties,
        life: Lifecycle::start(Status::Pending, now, delay),
        failure_reason: None,
        created: now,
        modified: now,
    });
    Ok(json!({ "ImageVersionArn": arn }))
}

/// The version a request names by `Version` or `Alias` (at most one), else the latest.
fn version_index(image: &Image, input: &Input<'_>) -> ApiResult<usize> {
    let number = input.i64_opt("Version")?;
    let alias = input.str_opt("Alias")?;
    match (number, alias) {
        (Some(_), Some(_)) => Err(ApiError::validation("Specify either Version or Alias, not both.")),
        (Some(n), None) => image.versions.iter().position(|v| v.version == n).ok_or_else(|| {
            ApiError::not_found(format!(
                "ImageVersion with ImageName {} and Version {n} does not exist.",
                image.name
            ))
        }),
        (None, Some(a)) => image
            .versions
            .iter()
            .position(|v| v.aliases.iter().any(|x| x == a))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "ImageVersion with ImageName {} and Alias {a} does not exist.",
                    image.name
                ))
            }),
        (None, None) => image
            .latest()
            .and_then(|l| image.versions.iter().position(|v| v.version == l.version))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Latest ImageVersion with ImageName {} does not exist. Please provide a valid ImageName.",
                    image.name
                ))
            }),
    }
}

pub fn describe_image_version(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let image = find(state, scope, &input)?;
    let i = version_index(image, &input)?;
    Ok(image.versions[i].describe(image))
}

pub fn update_image_version(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let to_add = input.str_list_opt("AliasesToAdd")?.unwrap_or_default();
    let to_delete = input.str_list_opt("AliasesToDelete")?.unwrap_or_default();
    let image = find(state, scope, &input)?;
    let i = version_index(image, &input)?;
    let version = &image.versions[i];
    if version.life.status != Status::InService {
        return Err(ApiError::in_use(format!(
            "ImageVersion {} is in {} status and cannot be updated.",
            version.arn,
            version.status()
        )));
    }
    check_new_aliases(image, &to_add, Some(version.version))?;
    if let Some(missing) = to_delete.iter().find(|a| !version.aliases.iter().any(|x| x == *a)) {
        return Err(ApiError::validation(format!(
            "Alias {missing} is not associated with version {} of image {}.",
            version.version, image.name
        )));
    }
    let version = &mut image.versions[i];
    version.aliases.retain(|a| !to_delete.contains(&a.as_str()));
    for alias in to_add {
        if !version.aliases.iter().any(|a| a == alias) {
            version.aliases.push(alias.into());
        }
    }
    for member in VERSION_PROPERTIES {
        if let Some(v) = input.raw(member) {
            version.properties.insert((*member).into(), v.clone());
        }
    }
    version.modified = now;
    Ok(json!({ "ImageVersionArn": version.arn }))
}

/// Deletes one version (named by Version or Alias), unless an attachment pins it, or relies
/// on it as the image's only version.
pub fn delete_image_version(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    if input.i64_opt("Version")?.is_none() && input.str_opt("Alias")?.is_none() {
        return Err(ApiError::validation("Either Version or Alias must be specified."));
    }
    let name = input.str_req("ImageName")?;
    let delay = state.delays.image_version_delete;
    let part = state.partition(scope);
    let image_index = position(part, name)?;
    let attached = attachments(part, name);
    let image = &mut part.images[image_index];
    let i = version_index(image, &input)?;
    let number = image.versions[i].version;
    if image.versions[i].life.status.is_transitional() {
        return Err(ApiError::in_use(format!(
            "ImageVersion {} is in {} status and cannot be deleted.",
            image.versions[i].arn,
            image.versions[i].status()
        )));
    }
    let remaining = image
        .versions
        .iter()
        .filter(|v| v.life.status != Status::Deleting)
        .count();
    let blocking = attached
        .iter()
        .find(|(_, pinned)| *pinned == Some(number) || (pinned.is_none() && remaining == 1));
    if let Some((owner, _)) = blocking {
        return Err(ApiError::in_use(format!(
            "Version {number} of image {} is used by [{owner}] through CustomImages.",
            image.name
        )));
    }
    let version = &mut image.versions[i];
    version.life = Lifecycle::start(Status::Deleting, now, delay);
    version.modified = now;
    version.aliases.clear();
    Ok(json!({}))
}

pub fn list_image_versions(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListImageVersions", 10, 1, 100)?;
    let bounds = TimeBounds::read(&input, "LastModifiedTime")?;
    let by = input.str_opt("SortBy")?.unwrap_or("CREATION_TIME");
    let descending = input.str_opt("SortOrder")? != Some("ASCENDING");
    let image = find(state, scope, &input)?;
    let mut rows: Vec<((Millis, i64), Value)> = image
        .versions
        .iter()
        .filter(|v| bounds.contains(v.created, v.modified))
        .map(|v| {
            let key = match by {
                "VERSION" => (0, v.version),
                "LAST_MODIFIED_TIME" => (v.modified, v.version),
                _ => (v.created, v.version),
            };
            (key, v.summary(image))
        })
        .collect();
    sort_rows(&mut rows, descending);
    let (items, next) = paginate(rows.into_iter().map(|r| r.1).collect(), "ListImageVersions", page);
    Ok(with_token(json!({ "ImageVersions": items }), next))
}

/// ListAliases: the aliases of one version (`Version`), all versions, or whether one alias
/// (`Alias`) exists.
pub fn list_aliases(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListAliases", 10, 1, 100)?;
    let alias = input.str_opt("Alias")?;
    let number = input.i64_opt("Version")?;
    let image = find(state, scope, &input)?;
    if let Some(n) = number
        && !image.versions.iter().any(|v| v.version == n)
    {
        return Err(ApiError::not_found(format!(
            "ImageVersion with ImageName {} and Version {n} does not exist.",
            image.name
        )));
    }
    let aliases: Vec<String> = image
        .versions
        .iter()
        .filter(|v| number.is_none_or(|n| v.version == n))
        .flat_map(|v| v.aliases.iter().cloned())
        .filter(|a| alias.is_none_or(|x| x == a))
        .collect();
    let (items, next) = paginate(aliases, "ListAliases", page);
    Ok(with_token(json!({ "SageMakerImageVersionAliases": items }), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_uris() {
        assert!(is_ecr_uri(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/image:1.0"
        ));
        assert!(is_ecr_uri("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/image"));
        assert!(is_ecr_uri(&format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/image@sha256:{}",
            "a".repeat(64)
        )));
        assert!(!is_ecr_uri("docker.io/library/python:3.12"));
        assert!(!is_ecr_uri("123456789012.dkr.ecr.us-east-1.amazonaws.com/Upper"));
    }

    #[test]
    fn repositories_lose_tag_and_digest() {
        let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert_eq!(
            repository(&format!("{host}/team/image:1.0")),
            format!("{host}/team/image")
        );
        assert_eq!(repository(&format!("{host}/image@sha256:abc")), format!("{host}/image"));
        assert_eq!(repository(&format!("{host}/image")), format!("{host}/image"));
    }

    #[test]
    fn digests_are_stable_and_long() {
        assert_eq!(digest("x"), digest("x"));
        assert_ne!(digest("x"), digest("y"));
        assert_eq!(digest("x").len(), 64);
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(Status::Pending), "CREATING");
        assert_eq!(status_name(Status::Failed), "CREATE_FAILED");
        assert_eq!(status_name(Status::InService), "CREATED");
    }
}
