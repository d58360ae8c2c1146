//! The StudioImage controller: a SageMaker Image, its versions (in `spec.versions` order, one
//! at a time) with their aliases, and the AppImageConfig of the same name. Observe (AWS) ->
//! decide ([`decide`], pure) -> act -> report. Only resources carrying this object's ownership
//! tags are ever updated or deleted.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};

use super::catalog::{self, Referred};
use super::context::Context;
use super::domain::reporter::content_hash;
use super::driver::{Pass, Reconcile, run_controller, spec_or_deletion};
use super::error::ReconcileError;
use super::report::reported;
use crate::api::condition_type::{DELETION_BLOCKED, GUARDRAIL_VIOLATION};
use crate::api::{DeletionPolicy, StudioImage, StudioImageSpec, StudioImageStatus};
use crate::api::{ImageVersionSpec, ImageVersionStatus};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{
    ImageContainer, ImageFileSystem, ImageRunConfig, ImageSettings, ObservedAppImageConfig, ObservedImage,
    ObservedImageVersion,
};
use crate::compliance::{self, Verdict, rules};
use crate::ownership::{self, Claim, Owner};
use crate::status::Want;

/// AWS names: `^[a-zA-Z0-9]([-.]?[a-zA-Z0-9]){0,62}$`.
const MAX_NAME: usize = 63;

/// Runs the StudioImage controller for one scope (a namespace, or `None` for all) until
/// `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<StudioImage>(ctx, scope, shutdown, spec_or_deletion, None, false).await;
}

reported!(StudioImage, StudioImageStatus);

impl Reconcile for StudioImage {
    fn api(client: &Client, obj: &Self) -> Api<Self> {
        Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default())
    }

    async fn apply(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        apply(pass).await
    }

    async fn cleanup(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        cleanup(pass).await
    }
}

/// The image's (and its AppImageConfig's) name in AWS: `spec.imageName`, else
/// `<namespace>-<name>` made valid; a name that had to be changed or cut ends in a hash of the
/// original, so two different resources never share a name.
pub fn aws_name(spec: &StudioImageSpec, namespace: &str, name: &str) -> String {
    if let Some(name) = &spec.image_name {
        return name.clone();
    }
    let full = format!("{namespace}-{name}");
    let mut valid = String::new();
    for c in full.chars() {
        let separator = c == '-' || c == '.';
        if (separator && valid.ends_with(['-', '.'])) || !(separator || c.is_ascii_alphanumeric()) {
            continue;
        }
        valid.push(c);
    }
    if valid == full && valid.len() <= MAX_NAME {
        return valid;
    }
    let hash = content_hash(&[&full]);
    valid.truncate(MAX_NAME - hash.len() - 1);
    format!("{}-{hash}", valid.trim_end_matches(['-', '.']))
}

/// What AWS should hold, from the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Name of the Image and the AppImageConfig.
    pub name: String,
    /// Role, display name, description.
    pub settings: ImageSettings,
    /// The versions, oldest first.
    pub versions: Vec<ImageVersionSpec>,
    /// The AppImageConfig's app-kind member.
    pub config: ImageRunConfig,
}

impl Desired {
    /// The spec in AWS terms.
    pub fn of(spec: &StudioImageSpec, name: String) -> Self {
        let container = spec
            .container_config
            .as_ref()
            .filter(|c| **c != Default::default())
            .map(|c| ImageContainer {
                entrypoint: c.container_entrypoint.clone(),
                arguments: c.container_arguments.clone(),
                environment: c.container_environment_variables.clone(),
            });
        Desired {
            name,
            settings: ImageSettings {
                role: spec.role_arn.clone(),
                display_name: spec.display_name.clone(),
                description: spec.description.clone(),
            },
            versions: spec.versions.clone(),
            config: ImageRunConfig {
                app_type: spec.app_type.as_str().into(),
                file_system: spec.file_system_config.as_ref().map(|f| ImageFileSystem {
                    mount_path: f.mount_path.clone(),
                    uid: Some(f.default_uid),
                    gid: Some(f.default_gid),
                }),
                container,
                kernels: spec
                    .kernel_specs
                    .iter()
                    .map(|k| (k.name.clone(), k.display_name.clone()))
                    .collect(),
            },
        }
    }
}

/// What AWS holds under the image's name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// The Image.
    pub image: Option<ObservedImage>,
    /// Why the Image is not this resource's to manage, if it is not.
    pub image_foreign: Option<String>,
    /// Its versions, oldest first.
    pub versions: Vec<ObservedImageVersion>,
    /// The AppImageConfig.
    pub config: Option<ObservedAppImageConfig>,
    /// Why the AppImageConfig is not this resource's to manage, if it is not.
    pub config_foreign: Option<String>,
}

/// One call the pass makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// CreateImage.
    CreateImage,
    /// UpdateImage; the fields that differ.
    UpdateImage(Vec<&'static str>),
    /// UpdateImageVersion removing aliases (before any is added elsewhere).
    DeleteAliases { version: i32, aliases: Vec<String> },
    /// UpdateImageVersion adding aliases.
    AddAliases { version: i32, aliases: Vec<String> },
    /// CreateImageVersion of the `index`-th spec version.
    CreateVersion { index: usize },
    /// CreateAppImageConfig.
    CreateConfig,
    /// UpdateAppImageConfig; the fields that differ.
    UpdateConfig(Vec<&'static str>),
}

/// How the pass ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Everything matches.
    Ready(String),
    /// AWS is working (or the steps just started): poll.
    Wait(&'static str, String),
    /// Nothing moves until a person acts.
    Stalled(&'static str, String),
}

/// The calls to make and how the pass ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// In order.
    pub steps: Vec<Step>,
    /// After the steps.
    pub end: End,
}

impl Plan {
    fn end(end: End) -> Self {
        Plan { steps: Vec::new(), end }
    }
}

/// Decides the next calls from the spec and what AWS holds. Pure.
pub fn decide(desired: &Desired, observed: &Observed) -> Plan {
    let name = &desired.name;
    for (kind, why) in [
        ("Image", &observed.image_foreign),
        ("AppImageConfig", &observed.config_foreign),
    ] {
        if let Some(why) = why {
            return Plan::end(End::Stalled(
                "Conflict",
                format!(
                    "the {kind} {name} exists in AWS and {why}; it is never updated or deleted: set another spec.imageName, or remove it from AWS"
                ),
            ));
        }
    }
    let Some(image) = &observed.image else {
        return Plan {
            steps: vec![Step::CreateImage],
            end: End::Wait("Creating", format!("creating image {name}")),
        };
    };
    match image.status.as_str() {
        "CREATED" => {}
        "CREATE_FAILED" | "UPDATE_FAILED" | "DELETE_FAILED" => {
            let reason = image.failure_reason.as_deref().unwrap_or("no reason given");
            return Plan::end(End::Stalled(
                "ImageFailed",
                format!("image {name} is {}: {reason}", image.status),
            ));
        }
        status => return Plan::end(End::Wait("Waiting", format!("image {name} is {status}"))),
    }
    let drift = image_drift(&desired.settings, &image.settings);
    if !drift.is_empty() {
        return Plan {
            steps: vec![Step::UpdateImage(drift)],
            end: End::Wait("Updating", format!("updating image {name}")),
        };
    }
    let mut plan = plan_versions(desired, &observed.versions);
    if let End::Stalled(..) = plan.end {
        return plan;
    }
    match &observed.config {
        None => plan.steps.push(Step::CreateConfig),
        Some(held) => {
            let drift = config_drift(&desired.config, &held.config);
            if !drift.is_empty() {
                plan.steps.push(Step::UpdateConfig(drift));
            }
        }
    }
    if !plan.steps.is_empty() && matches!(plan.end, End::Ready(_)) {
        plan.end = End::Wait("Updating", format!("bringing image {name} to its spec"));
    }
    plan
}

/// The Image fields AWS holds otherwise than the spec.
fn image_drift(desired: &ImageSettings, held: &ImageSettings) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if desired.role != held.role {
        fields.push("roleArn");
    }
    if desired.display_name != held.display_name {
        fields.push("displayName");
    }
    if desired.description != held.description {
        fields.push("description");
    }
    fields
}

/// The AppImageConfig members AWS holds otherwise than the spec. A mount path the spec leaves
/// out is AWS's to choose.
fn config_drift(desired: &ImageRunConfig, held: &ImageRunConfig) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if desired.app_type != held.app_type {
        fields.push("appType");
    }
    let file_system_differs = match (&desired.file_system, &held.file_system) {
        (Some(d), Some(h)) => {
            d.uid != h.uid || d.gid != h.gid || (d.mount_path.is_some() && d.mount_path != h.mount_path)
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    if file_system_differs {
        fields.push("fileSystemConfig");
    }
    let empty = ImageContainer::default();
    if desired.container.as_ref().unwrap_or(&empty) != held.container.as_ref().unwrap_or(&empty) {
        fields.push("containerConfig");
    }
    if desired.kernels != held.kernels {
        fields.push("kernelSpecs");
    }
    fields
}

/// Pairs each spec version with the oldest unpaired version of the same base image.
fn pair<'a>(desired: &[ImageVersionSpec], held: &'a [ObservedImageVersion]) -> Vec<Option<&'a ObservedImageVersion>> {
    let mut taken = BTreeSet::new();
    desired
        .iter()
        .map(|wanted| {
            let found = held
                .iter()
                .find(|v| v.base_image == wanted.base_image && v.status != "DELETING" && !taken.contains(&v.version));
            if let Some(v) = found {
                taken.insert(v.version);
            }
            found
        })
        .collect()
}

/// Alias corrections and the next version to create (only once no version is being created).
fn plan_versions(desired: &Desired, held: &[ObservedImageVersion]) -> Plan {
    let pairs = pair(&desired.versions, held);
    let wanted: BTreeSet<&String> = desired.versions.iter().flat_map(|v| &v.aliases).collect();
    let (mut deletes, mut adds) = (Vec::new(), Vec::new());
    let mut waiting = None;
    for (spec, found) in desired.versions.iter().zip(&pairs) {
        let Some(version) = found else { continue };
        match version.status.as_str() {
            "CREATED" => {}
            "CREATE_FAILED" => {
                let reason = version.failure_reason.as_deref().unwrap_or("no reason given");
                return Plan::end(End::Stalled(
                    "VersionFailed",
                    format!("version {} ({}) failed: {reason}", version.version, spec.base_image),
                ));
            }
            status => {
                waiting.get_or_insert(format!("version {} is {status}", version.version));
                continue;
            }
        }
        let (delete, add) = alias_steps(version.version, &version.aliases, &spec.aliases);
        deletes.extend(delete);
        adds.extend(add);
    }
    // A version the spec does not list gives up the aliases the spec gives to another.
    for version in held.iter().filter(|v| v.status == "CREATED") {
        if pairs.iter().flatten().any(|p| p.version == version.version) {
            continue;
        }
        let taken: Vec<String> = version.aliases.iter().filter(|a| wanted.contains(a)).cloned().collect();
        if !taken.is_empty() {
            deletes.push(Step::DeleteAliases {
                version: version.version,
                aliases: taken,
            });
        }
    }
    let mut steps = deletes;
    steps.extend(adds);
    if let Some(message) = waiting {
        return Plan {
            steps,
            end: End::Wait("CreatingVersion", message),
        };
    }
    if let Some(index) = pairs.iter().position(Option::is_none) {
        steps.push(Step::CreateVersion { index });
        let message = format!("creating version {} of {}", index + 1, desired.versions.len());
        return Plan {
            steps,
            end: End::Wait("CreatingVersion", message),
        };
    }
    let latest = pairs.iter().flatten().map(|v| v.version).max().unwrap_or_default();
    let message = format!(
        "image {name} version {latest} ({} versions), AppImageConfig {name}",
        desired.versions.len(),
        name = desired.name
    );
    Plan {
        steps,
        end: End::Ready(message),
    }
}

/// The alias changes that bring a version from `held` to `wanted`: removals, then additions.
fn alias_steps(version: i32, held: &[String], wanted: &[String]) -> (Option<Step>, Option<Step>) {
    let extra: Vec<String> = held.iter().filter(|a| !wanted.contains(a)).cloned().collect();
    let missing: Vec<String> = wanted.iter().filter(|a| !held.contains(a)).cloned().collect();
    (
        (!extra.is_empty()).then_some(Step::DeleteAliases {
            version,
            aliases: extra,
        }),
        (!missing.is_empty()).then_some(Step::AddAliases {
            version,
            aliases: missing,
        }),
    )
}

/// The versions AWS holds for the spec's, in spec order.
fn version_status(desired: &Desired, held: &[ObservedImageVersion]) -> Vec<ImageVersionStatus> {
    pair(&desired.versions, held)
        .into_iter()
        .flatten()
        .map(|v| ImageVersionStatus {
            version: v.version,
            base_image: v.base_image.clone(),
            arn: v.arn.clone(),
            aliases: v.aliases.clone(),
        })
        .collect()
}

/// The session for `spec.aws`, with its role.
fn owner(pass: &Pass<'_, StudioImage>) -> Owner {
    Owner {
        cluster: pass.ctx.config.cluster_id.clone(),
        namespace: pass.namespace(),
        name: pass.obj.name_any(),
        uid: pass.uid(),
    }
}

/// Why a resource with these tags is not this object's, if it is not; `None` also when it is
/// gone since it was described.
async fn foreign(session: &AwsSession, owner: &Owner, arn: &str) -> Result<Option<String>, ReconcileError> {
    let tags = match session.list_tags(arn).await {
        Ok(tags) => tags,
        Err(AwsError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    Ok(match ownership::claim(owner, &tags, false) {
        Claim::Ours | Claim::Adopt => None,
        Claim::TakenBy(other) => Some(format!("belongs to {other}")),
        Claim::Unmanaged => Some("does not carry this StudioImage's ownership tags".into()),
    })
}

/// Reads the Image, its versions and the AppImageConfig, and whose they are.
async fn observe(session: &AwsSession, owner: &Owner, name: &str) -> Result<Observed, ReconcileError> {
    let mut observed = Observed {
        image: session.describe_image(name).await?,
        config: session.describe_app_image_config(name).await?,
        ..Default::default()
    };
    if let Some(image) = &observed.image {
        observed.image_foreign = foreign(session, owner, &image.arn).await?;
        if observed.image_foreign.is_none() && image.status != "DELETING" {
            observed.versions = session.list_image_versions(name).await?;
        }
    }
    if let Some(config) = &observed.config {
        observed.config_foreign = foreign(session, owner, &config.arn).await?;
    }
    Ok(observed)
}

/// The covering Guardrails' verdict on the image's ARN; false when an enforcing one forbids it.
async fn guardrails(
    pass: &mut Pass<'_, StudioImage>,
    session: &AwsSession,
    name: &str,
) -> Result<bool, ReconcileError> {
    let covering = pass
        .ctx
        .guardrails_for(&pass.namespace(), pass.obj.labels(), None)
        .await?;
    if covering.is_empty() {
        return Ok(true);
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:image/{}",
        pass.obj.spec.aws.region,
        session.account_id().await?,
        name.to_ascii_lowercase()
    );
    let verdict = Verdict::of(&covering.iter().map(Arc::as_ref).collect::<Vec<_>>(), |rules| {
        rules::check_image(rules, &arn)
    });
    let (condition, allowed) = compliance::condition(&verdict);
    pass.report.want(condition);
    if !allowed {
        pass.report.stalled("GuardrailViolation", verdict.message());
    }
    Ok(allowed)
}

/// Brings AWS towards the spec.
async fn apply(pass: &mut Pass<'_, StudioImage>) -> Result<Action, ReconcileError> {
    let name = aws_name(&pass.obj.spec, &pass.namespace(), &pass.obj.name_any());
    pass.status.image_name = Some(name.clone());
    pass.status.app_image_config_name = Some(name.clone());
    pass.status.app_type = Some(pass.obj.spec.app_type);
    let role = pass.obj.spec.aws.role_arn.as_deref();
    if let Some(message) = pass
        .ctx
        .forbidden_role(&pass.namespace(), pass.obj.labels(), role)
        .await?
    {
        pass.report
            .want(Want::true_(GUARDRAIL_VIOLATION, "Enforced", message.clone()));
        pass.report
            .stalled("GuardrailViolation", format!("{message}; nothing is done in AWS"));
        return Ok(pass.resync());
    }
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    if !guardrails(pass, &session, &name).await? {
        return Ok(pass.blocked());
    }
    let owner = owner(pass);
    let observed = observe(&session, &owner, &name).await?;
    let desired = Desired::of(&pass.obj.spec, name);
    if observed.image_foreign.is_none() {
        pass.status.image_arn = observed.image.as_ref().map(|i| i.arn.clone());
        pass.status.versions = version_status(&desired, &observed.versions);
        pass.status.latest_version = pass.status.versions.iter().map(|v| v.version).max();
    }
    let plan = decide(&desired, &observed);
    act(pass, &session, &owner, &desired, &plan.steps).await?;
    Ok(match plan.end {
        End::Ready(message) => {
            pass.report.ready("Ready", message);
            pass.resync()
        }
        End::Wait(reason, message) => {
            pass.report.progressing(reason, message);
            pass.poll()
        }
        End::Stalled(reason, message) => {
            pass.report.stalled(reason, message);
            pass.blocked()
        }
    })
}

/// Makes the plan's calls, then reports the corrections of what AWS held.
async fn act(
    pass: &mut Pass<'_, StudioImage>,
    session: &AwsSession,
    owner: &Owner,
    desired: &Desired,
    steps: &[Step],
) -> Result<(), ReconcileError> {
    let name = desired.name.as_str();
    let mut corrected = Vec::new();
    for step in steps {
        match step {
            Step::CreateImage => {
                session.create_image(name, &desired.settings, &owner.tags()).await?;
            }
            Step::UpdateImage(fields) => {
                session.update_image(name, &desired.settings).await?;
                corrected.extend(fields.iter().map(|f| format!("image.{f}")));
            }
            Step::DeleteAliases { version, aliases } => {
                session
                    .update_image_version_aliases(name, *version, &[], aliases)
                    .await?;
                corrected.push(format!("version {version} aliases"));
            }
            Step::AddAliases { version, aliases } => {
                session
                    .update_image_version_aliases(name, *version, aliases, &[])
                    .await?;
                corrected.push(format!("version {version} aliases"));
            }
            Step::CreateVersion { index } => {
                let version = &desired.versions[*index];
                let token = content_hash(&[&owner.uid, &index.to_string(), &version.base_image]);
                session
                    .create_image_version(name, &version.base_image, &version.aliases, &token)
                    .await?;
            }
            Step::CreateConfig => {
                session
                    .create_app_image_config(name, &desired.config, &owner.tags())
                    .await?;
            }
            Step::UpdateConfig(fields) => {
                session.update_app_image_config(name, &desired.config).await?;
                corrected.extend(fields.iter().map(|f| format!("appImageConfig.{f}")));
            }
        }
    }
    corrected.dedup();
    if !corrected.is_empty() {
        let spec_changed = pass.status.observed_generation != Some(pass.generation());
        pass.ctx.report_corrections(pass.obj, spec_changed, &corrected).await;
    }
    Ok(())
}

/// Waits while anything refers to the image, then deletes (or, with `Retain`, untags) the
/// AppImageConfig and the Image, and releases the finalizer.
async fn cleanup(pass: &mut Pass<'_, StudioImage>) -> Result<Action, ReconcileError> {
    let referrers = catalog::referrers(
        &pass.ctx.stores,
        &pass.namespace(),
        Referred::Image,
        &pass.obj.name_any(),
    );
    if !referrers.is_empty() {
        let message = format!("deletion waits: still referred to by {}", referrers.join(", "));
        pass.report
            .want(Want::true_(DELETION_BLOCKED, "InUse", message.clone()));
        pass.report.stalled("DeletionBlocked", message);
        return Ok(pass.blocked());
    }
    pass.report.want(Want::false_(
        DELETION_BLOCKED,
        "NotInUse",
        "nothing refers to the image",
    ));
    let name = aws_name(&pass.obj.spec, &pass.namespace(), &pass.obj.name_any());
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    let owner = owner(pass);
    let done = match pass.obj.spec.deletion_policy {
        DeletionPolicy::Delete => delete(&session, &owner, &name).await?,
        DeletionPolicy::Retain => untag(&session, &owner, &name).await?,
    };
    if done {
        return pass.release().await;
    }
    pass.report.progressing("Deleting", format!("deleting image {name}"));
    Ok(pass.poll())
}

/// Deletes the AppImageConfig, then the Image (with its versions), each only if it carries
/// this object's tags (checked right before); true once the Image is gone or not ours.
async fn delete(session: &AwsSession, owner: &Owner, name: &str) -> Result<bool, ReconcileError> {
    if let Some(config) = session.describe_app_image_config(name).await?
        && foreign(session, owner, &config.arn).await?.is_none()
    {
        session.delete_app_image_config(name).await?;
    }
    let Some(image) = session.describe_image(name).await? else {
        return Ok(true);
    };
    if image.status == "DELETING" {
        return Ok(false);
    }
    if foreign(session, owner, &image.arn).await?.is_some() {
        return Ok(true);
    }
    session.delete_image(name).await?;
    Ok(false)
}

/// Removes the ownership tags from the AppImageConfig and the Image that carry this object's.
async fn untag(session: &AwsSession, owner: &Owner, name: &str) -> Result<bool, ReconcileError> {
    let keys: Vec<String> = ownership::KEYS.iter().map(|k| k.to_string()).collect();
    let config = session.describe_app_image_config(name).await?.map(|c| c.arn);
    let image = session.describe_image(name).await?.map(|i| i.arn);
    for arn in config.into_iter().chain(image) {
        if foreign(session, owner, &arn).await?.is_none() {
            session.delete_tags(&arn, &keys).await?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/lab";

    fn spec(versions: Value) -> StudioImageSpec {
        serde_json::from_value(json!({
            "aws": {"region": "us-east-1"},
            "roleArn": "arn:aws:iam::123456789012:role/Pull",
            "displayName": "Team lab",
            "appType": "JupyterLab",
            "versions": versions,
            "fileSystemConfig": {"defaultUid": 1000, "defaultGid": 100},
        }))
        .unwrap()
    }

    fn desired() -> Desired {
        let versions = json!([
            {"baseImage": format!("{ECR}:1"), "aliases": ["stable"]},
            {"baseImage": format!("{ECR}:2"), "aliases": ["latest"]},
        ]);
        Desired::of(&spec(versions), "team-lab".into())
    }

    fn image(desired: &Desired, status: &str) -> ObservedImage {
        ObservedImage {
            arn: "arn:aws:sagemaker:us-east-1:123456789012:image/team-lab".into(),
            status: status.into(),
            settings: desired.settings.clone(),
            failure_reason: None,
        }
    }

    fn version(number: i32, tag: &str, status: &str, aliases: &[&str]) -> ObservedImageVersion {
        ObservedImageVersion {
            version: number,
            arn: format!("arn:version/{number}"),
            base_image: format!("{ECR}:{tag}"),
            status: status.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            failure_reason: None,
        }
    }

    fn complete(desired: &Desired) -> Observed {
        Observed {
            image: Some(image(desired, "CREATED")),
            versions: vec![
                version(1, "1", "CREATED", &["stable"]),
                version(2, "2", "CREATED", &["latest"]),
            ],
            config: Some(ObservedAppImageConfig {
                arn: "arn:config".into(),
                config: desired.config.clone(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn names_default_to_namespace_and_name_and_stay_valid_and_distinct() {
        let spec = spec(json!([{"baseImage": format!("{ECR}:1")}]));
        assert_eq!(aws_name(&spec, "team-a", "lab"), "team-a-lab");
        let long = "x".repeat(70);
        let a = aws_name(&spec, "ns", &format!("{long}a"));
        let b = aws_name(&spec, "ns", &format!("{long}b"));
        assert_ne!(a, b);
        // `^[a-zA-Z0-9]([-.]?[a-zA-Z0-9]){0,62}$`
        let valid = |name: &str| {
            let separator = |c: char| c == '-' || c == '.';
            name.len() <= MAX_NAME
                && name.chars().all(|c| c.is_ascii_alphanumeric() || separator(c))
                && !name.starts_with(separator)
                && !name.ends_with(separator)
                && !name
                    .as_bytes()
                    .windows(2)
                    .any(|w| separator(w[0] as char) && separator(w[1] as char))
        };
        for name in [&a, &b, &aws_name(&spec, "ns", "a--b"), &aws_name(&spec, "ns", "a.-b")] {
            assert!(valid(name), "{name}");
        }
        assert_ne!(aws_name(&spec, "ns", "a--b"), aws_name(&spec, "ns", "a-b"));
        let named = StudioImageSpec {
            image_name: Some("Mine".into()),
            ..spec
        };
        assert_eq!(aws_name(&named, "ns", "lab"), "Mine");
    }

    #[test]
    fn a_missing_image_is_created_first_and_waited_for() {
        let desired = desired();
        let plan = decide(&desired, &Observed::default());
        assert_eq!(plan.steps, [Step::CreateImage]);
        let creating = Observed {
            image: Some(image(&desired, "CREATING")),
            ..Default::default()
        };
        let plan = decide(&desired, &creating);
        assert!(plan.steps.is_empty() && matches!(plan.end, End::Wait(..)));
    }

    #[test]
    fn versions_are_created_in_order_one_at_a_time() {
        let desired = desired();
        let mut observed = Observed {
            image: Some(image(&desired, "CREATED")),
            ..Default::default()
        };
        let plan = decide(&desired, &observed);
        assert_eq!(plan.steps, [Step::CreateVersion { index: 0 }, Step::CreateConfig]);
        observed.versions = vec![version(1, "1", "CREATING", &["stable"])];
        let plan = decide(&desired, &observed);
        assert_eq!(plan.steps, [Step::CreateConfig]);
        assert!(matches!(plan.end, End::Wait("CreatingVersion", _)));
        observed.versions[0].status = "CREATED".into();
        assert_eq!(decide(&desired, &observed).steps[0], Step::CreateVersion { index: 1 });
    }

    #[test]
    fn a_matching_image_is_ready() {
        let desired = desired();
        let plan = decide(&desired, &complete(&desired));
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.end,
            End::Ready("image team-lab version 2 (2 versions), AppImageConfig team-lab".into())
        );
    }

    #[test]
    fn alias_drift_is_removed_before_aliases_are_added() {
        let desired = desired();
        let mut observed = complete(&desired);
        // The console moved `stable` to version 2 and made a version 3 holding `latest`.
        observed.versions = vec![
            version(1, "1", "CREATED", &[]),
            version(2, "2", "CREATED", &["stable"]),
            version(3, "3", "CREATED", &["latest"]),
        ];
        let plan = decide(&desired, &observed);
        assert_eq!(
            plan.steps,
            [
                Step::DeleteAliases {
                    version: 2,
                    aliases: vec!["stable".into()]
                },
                Step::DeleteAliases {
                    version: 3,
                    aliases: vec!["latest".into()]
                },
                Step::AddAliases {
                    version: 1,
                    aliases: vec!["stable".into()]
                },
                Step::AddAliases {
                    version: 2,
                    aliases: vec!["latest".into()]
                },
            ]
        );
        assert!(matches!(plan.end, End::Wait(..)));
    }

    #[test]
    fn image_and_config_drift_are_corrected() {
        let desired = desired();
        let mut observed = complete(&desired);
        observed.image.as_mut().unwrap().settings.description = Some("console".into());
        assert_eq!(
            decide(&desired, &observed).steps,
            [Step::UpdateImage(vec!["description"])]
        );
        let mut observed = complete(&desired);
        let held = &mut observed.config.as_mut().unwrap().config;
        held.file_system.as_mut().unwrap().uid = Some(0);
        held.file_system.as_mut().unwrap().mount_path = Some("/home/sagemaker-user".into());
        assert_eq!(
            decide(&desired, &observed).steps,
            [Step::UpdateConfig(vec!["fileSystemConfig"])]
        );
    }

    #[test]
    fn foreign_resources_and_failures_stall_without_calls() {
        let desired = desired();
        let mut observed = complete(&desired);
        observed.image_foreign = Some("does not carry this StudioImage's ownership tags".into());
        let plan = decide(&desired, &observed);
        assert!(plan.steps.is_empty());
        assert!(matches!(&plan.end, End::Stalled("Conflict", m) if m.contains("Image team-lab")));
        let mut observed = complete(&desired);
        observed.versions[1].status = "CREATE_FAILED".into();
        observed.versions[1].failure_reason = Some("Unable to pull image".into());
        let plan = decide(&desired, &observed);
        assert!(plan.steps.is_empty());
        assert!(matches!(&plan.end, End::Stalled("VersionFailed", m) if m.contains("Unable to pull image")));
    }
}
