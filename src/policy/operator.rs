//! The least-privilege IAM policy of the operator itself (`studio-operator iam-policy`).
//!
//! [`OPERATIONS`] lists every AWS operation the adapter in `src/aws/` calls, with what IAM needs
//! for it; a unit test reads every file under `src/aws/` and fails until every `call("Operation", ...)` there
//! is listed here, and nothing else is. The policy is built from that list alone.
//!
//! Ownership: the operator tags what it creates with `studio-operator.io/cluster=<cluster id>`
//! and may only touch resources that carry its own cluster id or no operator tag at all (the
//! resources it adopts). That is exactly what `StringEqualsIfExists` on `aws:ResourceTag` says,
//! so a second cluster sharing the account cannot have its resources changed. Reads stay
//! unconditioned (claims are decided from what is read), and so do apps, whose tags are
//! inherited from their domain and profile rather than set by the operator.

use std::collections::BTreeSet;

use Dependency::*;
use Resource::{
    Any, App, AppImageConfig, Domain, Image, ImageVersion, KmsKey, S3Bucket, S3Object, Space, StudioLifecycleConfig,
    UserProfile,
};
use Scope::*;
use Service::{Kms, S3, SageMaker, Sts, Tagging};

use super::document::{Effect, Policy, PolicyKind, Statement};
use crate::ownership::TAG_CLUSTER;

/// The service-linked role SageMaker creates with an account's first domain.
const SAGEMAKER_SERVICE_LINKED_ROLE: &str =
    "arn:*:iam::*:role/aws-service-role/sagemaker.amazonaws.com/AWSServiceRoleForAmazonSageMakerNotebooks";

/// An AWS service the adapter calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// `sagemaker:`.
    SageMaker,
    /// `kms:`.
    Kms,
    /// `sts:`.
    Sts,
    /// `tag:` (the Resource Groups Tagging API).
    Tagging,
    /// `s3:` (only the expiry of retired space backups).
    S3,
}

impl Service {
    /// IAM service prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Service::SageMaker => "sagemaker",
            Service::Kms => "kms",
            Service::Sts => "sts",
            Service::Tagging => "tag",
            Service::S3 => "s3",
        }
    }

    fn sid(self) -> &'static str {
        match self {
            Service::SageMaker => "SageMaker",
            Service::Kms => "Kms",
            Service::Sts => "Sts",
            Service::Tagging => "Tagging",
            Service::S3 => "S3",
        }
    }
}

/// Which existing resources an operation may act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Any resource: reads, from which ownership is decided.
    Read,
    /// Creates a resource, which must carry this cluster's ownership tag from the start.
    Create,
    /// Changes a resource that is this cluster's or no operator's (adoption; apps users
    /// launched carry no tags): never one another cluster's operator tagged.
    Owned,
    /// Objects under the backup keys of StudioDomains (retirement markers, expired backups):
    /// S3 objects carry no resource tags IAM could condition on; scope the buckets instead.
    BackupObjects,
    /// Needs no IAM permission (sts:GetCallerIdentity).
    Free,
}

impl Scope {
    fn sid(self) -> &'static str {
        match self {
            Scope::Read => "Read",
            Scope::Create => "CreateOwned",
            Scope::Owned => "ChangeOwnedOrUnmanaged",
            Scope::BackupObjects => "BackupObjects",
            Scope::Free => "Free",
        }
    }
}

/// The resources an operation acts on, as ARN patterns in any partition, region and account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// The action supports no resource-level permission (List calls): `*`.
    Any,
    /// `domain/*`.
    Domain,
    /// `user-profile/<domain>/<name>`.
    UserProfile,
    /// `space/<domain>/<name>`.
    Space,
    /// `app/<domain>/<profile or space>/<type>/<name>`.
    App,
    /// `studio-lifecycle-config/<name>`.
    StudioLifecycleConfig,
    /// `image/<name>` (a StudioImage).
    Image,
    /// `image-version/<image>/<version>`.
    ImageVersion,
    /// `app-image-config/<name>`.
    AppImageConfig,
    /// KMS keys (aliases resolve to them).
    KmsKey,
    /// S3 buckets (of `spec.spaceBackup.s3Uri`).
    S3Bucket,
    /// S3 objects in them.
    S3Object,
}

impl Resource {
    /// The ARN pattern.
    pub fn arn(self) -> &'static str {
        match self {
            Resource::Any => "*",
            Resource::Domain => "arn:*:sagemaker:*:*:domain/*",
            Resource::UserProfile => "arn:*:sagemaker:*:*:user-profile/*/*",
            Resource::Space => "arn:*:sagemaker:*:*:space/*/*",
            Resource::App => "arn:*:sagemaker:*:*:app/*/*/*/*",
            Resource::StudioLifecycleConfig => "arn:*:sagemaker:*:*:studio-lifecycle-config/*",
            Resource::Image => "arn:*:sagemaker:*:*:image/*",
            Resource::ImageVersion => "arn:*:sagemaker:*:*:image-version/*/*",
            Resource::AppImageConfig => "arn:*:sagemaker:*:*:app-image-config/*",
            Resource::KmsKey => "arn:*:kms:*:*:key/*",
            Resource::S3Bucket => "arn:*:s3:::*",
            Resource::S3Object => "arn:*:s3:::*/*",
        }
    }
}

/// Permissions AWS checks besides the operation's own action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    /// The request names execution roles: `iam:PassRole` to SageMaker.
    PassExecutionRole,
    /// The first domain of an account creates SageMaker's notebook service-linked role.
    ServiceLinkedRole,
    /// SageMaker creates the domain's EFS volume, encrypted with the domain's customer managed
    /// key, with the caller's credentials (forward access sessions).
    DomainStorage,
    /// A retirement marker is written with SSE-KMS under the backup's customer managed key.
    BackupEncryption,
}

/// One AWS operation the adapter calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Service.
    pub service: Service,
    /// Operation name as passed to `AwsSession::call`.
    pub name: &'static str,
    /// The IAM action: the operation's name, except where S3 names it otherwise.
    pub action: &'static str,
    /// Which resources it may act on.
    pub scope: Scope,
    /// Resource types it acts on.
    pub resources: &'static [Resource],
    /// Further permissions AWS checks for it.
    pub dependencies: &'static [Dependency],
}

const fn operation(
    service: Service,
    name: &'static str,
    scope: Scope,
    resources: &'static [Resource],
    dependencies: &'static [Dependency],
) -> Operation {
    Operation {
        service,
        name,
        action: name,
        scope,
        resources,
        dependencies,
    }
}

/// An S3 operation, whose IAM action may have another name (ListObjectsV2 is s3:ListBucket).
const fn s3_operation(
    name: &'static str,
    action: &'static str,
    scope: Scope,
    resources: &'static [Resource],
    dependencies: &'static [Dependency],
) -> Operation {
    Operation {
        service: S3,
        name,
        action,
        scope,
        resources,
        dependencies,
    }
}

/// Studio resources the operator tags.
const STUDIO: &[Resource] = &[Domain, UserProfile, Space, StudioLifecycleConfig, Image, AppImageConfig];
/// Everything whose tags the operator reads (apps: the idle sweeper's keep-alive tag).
const TAGGED: &[Resource] = &[
    Domain,
    UserProfile,
    Space,
    App,
    StudioLifecycleConfig,
    Image,
    AppImageConfig,
];

/// Every operation the AWS adapter calls. Keep in step with `src/aws/` (a test enforces it).
pub const OPERATIONS: &[Operation] = &[
    operation(SageMaker, "AddTags", Owned, STUDIO, &[]),
    operation(
        SageMaker,
        "CreateDomain",
        Create,
        &[Domain],
        &[PassExecutionRole, ServiceLinkedRole, DomainStorage],
    ),
    operation(SageMaker, "CreateAppImageConfig", Create, &[AppImageConfig], &[]),
    // The pull role of a StudioImage is passed like an execution role: list it with them.
    operation(SageMaker, "CreateImage", Create, &[Image], &[PassExecutionRole]),
    // An ImageVersion carries no tags of its own: conditioned on its image's.
    operation(SageMaker, "CreateImageVersion", Owned, &[Image], &[]),
    operation(SageMaker, "CreateSpace", Create, &[Space], &[]),
    operation(
        SageMaker,
        "CreateStudioLifecycleConfig",
        Create,
        &[StudioLifecycleConfig],
        &[],
    ),
    operation(
        SageMaker,
        "CreateUserProfile",
        Create,
        &[UserProfile],
        &[PassExecutionRole],
    ),
    operation(SageMaker, "DeleteApp", Owned, &[App], &[]),
    operation(SageMaker, "DeleteAppImageConfig", Owned, &[AppImageConfig], &[]),
    operation(SageMaker, "DeleteImage", Owned, &[Image], &[]),
    operation(SageMaker, "DeleteDomain", Owned, &[Domain], &[]),
    operation(SageMaker, "DeleteSpace", Owned, &[Space], &[]),
    operation(
        SageMaker,
        "DeleteStudioLifecycleConfig",
        Owned,
        &[StudioLifecycleConfig],
        &[],
    ),
    operation(SageMaker, "DeleteTags", Owned, STUDIO, &[]),
    operation(SageMaker, "DeleteUserProfile", Owned, &[UserProfile], &[]),
    operation(SageMaker, "DescribeApp", Read, &[App], &[]),
    operation(SageMaker, "DescribeAppImageConfig", Read, &[AppImageConfig], &[]),
    operation(SageMaker, "DescribeImage", Read, &[Image], &[]),
    operation(SageMaker, "DescribeImageVersion", Read, &[Image, ImageVersion], &[]),
    operation(SageMaker, "DescribeDomain", Read, &[Domain], &[]),
    operation(SageMaker, "DescribeSpace", Read, &[Space], &[]),
    operation(SageMaker, "DescribeUserProfile", Read, &[UserProfile], &[]),
    operation(SageMaker, "ListAliases", Read, &[Image, ImageVersion], &[]),
    operation(SageMaker, "ListApps", Read, &[Any], &[]),
    operation(SageMaker, "ListDomains", Read, &[Any], &[]),
    operation(SageMaker, "ListImageVersions", Read, &[Image], &[]),
    operation(SageMaker, "ListSpaces", Read, &[Any], &[]),
    operation(SageMaker, "ListStudioLifecycleConfigs", Read, &[Any], &[]),
    operation(
        SageMaker,
        "DescribeStudioLifecycleConfig",
        Read,
        &[StudioLifecycleConfig],
        &[],
    ),
    operation(SageMaker, "ListTags", Read, TAGGED, &[]),
    operation(SageMaker, "ListUserProfiles", Read, &[Any], &[]),
    operation(SageMaker, "UpdateAppImageConfig", Owned, &[AppImageConfig], &[]),
    operation(SageMaker, "UpdateDomain", Owned, &[Domain], &[PassExecutionRole]),
    operation(SageMaker, "UpdateImage", Owned, &[Image], &[PassExecutionRole]),
    operation(SageMaker, "UpdateImageVersion", Owned, &[Image, ImageVersion], &[]),
    operation(SageMaker, "UpdateSpace", Owned, &[Space], &[]),
    operation(
        SageMaker,
        "UpdateUserProfile",
        Owned,
        &[UserProfile],
        &[PassExecutionRole],
    ),
    operation(Kms, "DescribeKey", Read, &[KmsKey], &[]),
    operation(Sts, "GetCallerIdentity", Free, &[], &[]),
    operation(Tagging, "GetResources", Read, &[Any], &[]),
    s3_operation("ListObjectsV2", "ListBucket", Read, &[S3Bucket], &[]),
    s3_operation(
        "PutObject",
        "PutObject",
        BackupObjects,
        &[S3Object],
        &[BackupEncryption],
    ),
    s3_operation("DeleteObjects", "DeleteObject", BackupObjects, &[S3Object], &[]),
];

/// Options of `studio-operator iam-policy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorPolicyOptions {
    /// The operator's `--cluster-id`, the value of its ownership tag.
    pub cluster_id: String,
    /// Roles the operator assumes per domain (`spec.aws.roleArn`), as ARN patterns; none means
    /// it acts as its own identity and needs no `sts:AssumeRole`.
    pub role_arn_patterns: Vec<String>,
    /// Execution roles it may pass to SageMaker (at least one: the CLI requires it), so a
    /// tenant naming another role in a spec gets AccessDenied from IAM.
    pub execution_role_arns: Vec<String>,
    /// Buckets of `spec.spaceBackup.s3Uri` whose retired backups the operator expires
    /// (`retention: <N>d`); none leaves S3 out of the policy.
    pub backup_buckets: Vec<String>,
}

impl OperatorPolicyOptions {
    /// The operations the policy grants: S3's only for backup buckets.
    fn granted(&self) -> impl Iterator<Item = &'static Operation> + '_ {
        OPERATIONS
            .iter()
            .filter(|op| op.service != S3 || !self.backup_buckets.is_empty())
    }

    /// The ARNs of an operation's resources: S3's name the backup buckets.
    fn arns(&self, resource: Resource) -> Vec<String> {
        match resource {
            S3Bucket => self.backup_buckets.iter().map(|b| format!("arn:*:s3:::{b}")).collect(),
            S3Object => self
                .backup_buckets
                .iter()
                .map(|b| format!("arn:*:s3:::{b}/*"))
                .collect(),
            other => vec![other.arn().to_string()],
        }
    }
}

/// The operator's policy. With per-domain roles, attach it to the operator's own identity (for
/// `sts:AssumeRole`) and to each assumed role (for the rest); the roles' trust policies must
/// trust the operator's identity.
pub fn operator_policy(options: &OperatorPolicyOptions) -> Policy {
    let mut statements = Vec::new();
    // One statement per (service, scope); List actions, which take only `*`, get their own so
    // the others keep their resource patterns. Joining resource types in one statement grants
    // nothing extra: an action only ever matches ARNs of its own resource type.
    let mut groups: BTreeSet<(Service, Scope, bool)> = BTreeSet::new();
    for op in options.granted().filter(|op| op.scope != Free) {
        groups.insert((op.service, op.scope, op.resources.contains(&Any)));
    }
    for (service, scope, any) in groups {
        let members: Vec<&Operation> = options
            .granted()
            .filter(|op| op.service == service && op.scope == scope && op.resources.contains(&Any) == any)
            .collect();
        let actions: BTreeSet<String> = members
            .iter()
            .map(|op| format!("{}:{}", service.prefix(), op.action))
            .collect();
        let resources: BTreeSet<String> = members
            .iter()
            .flat_map(|op| op.resources.iter().flat_map(|r| options.arns(*r)))
            .collect();
        let sid = format!("{}{}{}", service.sid(), scope.sid(), if any { "Unscoped" } else { "" });
        let statement = Statement::new(sid, Effect::Allow, actions, resources);
        statements.push(match scope {
            Create => statement.when(
                "StringEquals",
                format!("aws:RequestTag/{TAG_CLUSTER}"),
                [&options.cluster_id],
            ),
            Owned => statement.when(
                "StringEqualsIfExists",
                format!("aws:ResourceTag/{TAG_CLUSTER}"),
                [&options.cluster_id],
            ),
            Read | BackupObjects | Free => statement,
        });
    }
    let dependencies: BTreeSet<Dependency> = options
        .granted()
        .flat_map(|op| op.dependencies.iter().copied())
        .collect();
    for dependency in dependencies {
        statements.extend(dependency_statements(dependency, options));
    }
    if !options.role_arn_patterns.is_empty() {
        statements.push(Statement::new(
            "StsAssumeDomainRoles",
            Effect::Allow,
            // Every AssumeRole carries session tags naming the namespace and object.
            ["sts:AssumeRole", "sts:TagSession"],
            sorted(&options.role_arn_patterns),
        ));
    }
    Policy::new(PolicyKind::Managed, statements)
}

fn dependency_statements(dependency: Dependency, options: &OperatorPolicyOptions) -> Vec<Statement> {
    match dependency {
        PassExecutionRole => {
            let roles = sorted(&options.execution_role_arns);
            vec![
                Statement::new("IamPassExecutionRoles", Effect::Allow, ["iam:PassRole"], roles).when(
                    "StringEquals",
                    "iam:PassedToService",
                    ["sagemaker.amazonaws.com"],
                ),
            ]
        }
        ServiceLinkedRole => vec![
            Statement::new(
                "IamCreateSageMakerServiceLinkedRole",
                Effect::Allow,
                ["iam:CreateServiceLinkedRole"],
                [SAGEMAKER_SERVICE_LINKED_ROLE],
            )
            .when("StringEquals", "iam:AWSServiceName", ["sagemaker.amazonaws.com"]),
        ],
        // The reference's list for a customer managed key (EFS requires CreateGrant, Decrypt and
        // GenerateDataKeyWithoutPlaintext of the caller; partly unconfirmed for SageMaker), usable
        // only through SageMaker and EFS, and EFS creation only on a service's behalf.
        DomainStorage => vec![
            Statement::new(
                "KmsUseDomainKeysThroughStudio",
                Effect::Allow,
                ["kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext"],
                [Resource::KmsKey.arn()],
            )
            .when(
                "StringLike",
                "kms:ViaService",
                ["elasticfilesystem.*.amazonaws.com", "sagemaker.*.amazonaws.com"],
            ),
            Statement::new(
                "EfsCreateDomainVolumes",
                Effect::Allow,
                ["elasticfilesystem:CreateFileSystem"],
                // A file system that does not exist yet has no ARN to name.
                ["*"],
            )
            .when("Bool", "aws:ViaAWSService", ["true"]),
        ],
        BackupEncryption => vec![
            Statement::new(
                "KmsEncryptBackupMarkersThroughS3",
                Effect::Allow,
                ["kms:GenerateDataKey"],
                [Resource::KmsKey.arn()],
            )
            .when("StringLike", "kms:ViaService", ["s3.*.amazonaws.com"]),
        ],
    }
}

fn sorted(values: &[String]) -> BTreeSet<String> {
    values.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::policy::document::grammar_problems;

    /// The Rust files under `dir`, recursively.
    fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(rust_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }

    /// Every `call("Operation", ...)` under src/aws/ with the client (service) its function uses.
    fn adapter_calls() -> BTreeSet<(Service, String)> {
        let mut calls = BTreeSet::new();
        for path in rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/aws")) {
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("call(") {
                let rest = text[at + "call(".len()..].trim_start();
                let Some(literal) = rest.strip_prefix('"') else {
                    continue;
                };
                let name = &literal[..literal.find('"').unwrap()];
                calls.insert((service_around(&text, at, &path), name.to_string()));
            }
        }
        calls
    }

    /// The one client (`self.sagemaker`, `self.kms`, `self.sts`, `self.tagging`, `self.s3`) the function around a call uses
    /// up to the call's `.await`.
    fn service_around(text: &str, at: usize, path: &Path) -> Service {
        let start = text[..at].rfind("fn ").unwrap_or(0);
        let end = text[at..].find(".await").map_or(text.len(), |i| at + i);
        // rustfmt splits `self\n.sagemaker\n.create_domain()` over lines.
        let window: String = text[start..end].split_whitespace().collect();
        let client = |service: Service| match service {
            Service::Tagging => "tagging",
            other => other.prefix(),
        };
        let found: Vec<Service> = [
            Service::SageMaker,
            Service::Kms,
            Service::Sts,
            Service::Tagging,
            Service::S3,
        ]
        .into_iter()
        .filter(|s| window.contains(&format!("self.{}.", client(*s))))
        .collect();
        match found.as_slice() {
            [one] => *one,
            _ => panic!(
                "{}: cannot tell the service of the call at byte {at}: clients {found:?}",
                path.display()
            ),
        }
    }

    #[test]
    fn operations_are_exactly_the_adapter_calls() {
        let listed: BTreeSet<(Service, String)> =
            OPERATIONS.iter().map(|op| (op.service, op.name.to_string())).collect();
        assert_eq!(listed.len(), OPERATIONS.len(), "an operation is listed twice");
        let called = adapter_calls();
        let missing: Vec<_> = called.difference(&listed).collect();
        let unused: Vec<_> = listed.difference(&called).collect();
        assert!(
            missing.is_empty() && unused.is_empty(),
            "src/policy/operator.rs OPERATIONS is out of step with src/aws: called but not listed {missing:?}, \
             listed but not called {unused:?}"
        );
    }

    #[test]
    fn operations_have_resources_except_free_ones() {
        for op in OPERATIONS {
            assert_eq!(op.scope == Free, op.resources.is_empty(), "{}", op.name);
            assert!(
                !op.resources.contains(&Any) || op.resources.len() == 1,
                "{}: `*` with other resources",
                op.name
            );
        }
    }

    fn options() -> OperatorPolicyOptions {
        OperatorPolicyOptions {
            cluster_id: "prod-eu".into(),
            role_arn_patterns: Vec::new(),
            execution_role_arns: vec!["arn:aws:iam::123456789012:role/studio-exec".into()],
            backup_buckets: Vec::new(),
        }
    }

    fn by_sid(policy: &Policy) -> BTreeMap<String, serde_json::Value> {
        policy
            .statements
            .iter()
            .map(|s| (s.sid.clone(), serde_json::to_value(s).unwrap()))
            .collect()
    }

    #[test]
    fn policy_grants_every_listed_action_and_nothing_free() {
        let policy = operator_policy(&OperatorPolicyOptions {
            backup_buckets: vec!["acme-backups".into()],
            ..options()
        });
        let actions: BTreeSet<String> = policy
            .statements
            .iter()
            .flat_map(|s| s.action.0.iter().cloned())
            .collect();
        for op in OPERATIONS {
            let action = format!("{}:{}", op.service.prefix(), op.action);
            assert_eq!(actions.contains(&action), op.scope != Free, "{action}");
        }
        assert!(!actions.contains("sts:AssumeRole"), "no roles, no AssumeRole");
        assert_eq!(grammar_problems(&policy), Vec::<String>::new());
        policy.check_size("iam-policy.json").unwrap();
    }

    #[test]
    fn s3_is_granted_only_on_the_backup_buckets() {
        let without = operator_policy(&options());
        assert!(
            without
                .statements
                .iter()
                .all(|s| s.action.0.iter().all(|a| !a.starts_with("s3:")) && !s.sid.contains("ThroughS3")),
            "no backup bucket, no S3"
        );
        let with = by_sid(&operator_policy(&OperatorPolicyOptions {
            backup_buckets: vec!["acme-backups".into()],
            ..options()
        }));
        assert_eq!(
            with["S3Read"],
            serde_json::json!({"Sid": "S3Read", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:*:s3:::acme-backups"})
        );
        assert_eq!(
            with["S3BackupObjects"]["Action"],
            serde_json::json!(["s3:DeleteObject", "s3:PutObject"])
        );
        assert_eq!(with["S3BackupObjects"]["Resource"], "arn:*:s3:::acme-backups/*");
        assert_eq!(
            with["KmsEncryptBackupMarkersThroughS3"]["Condition"],
            serde_json::json!({"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}})
        );
    }

    #[test]
    fn ownership_conditions() {
        let statements = by_sid(&operator_policy(&options()));
        assert_eq!(
            statements["SageMakerCreateOwned"],
            serde_json::json!({
                "Sid": "SageMakerCreateOwned",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateAppImageConfig",
                    "sagemaker:CreateDomain",
                    "sagemaker:CreateImage",
                    "sagemaker:CreateSpace",
                    "sagemaker:CreateStudioLifecycleConfig",
                    "sagemaker:CreateUserProfile"
                ],
                "Resource": [
                    "arn:*:sagemaker:*:*:app-image-config/*",
                    "arn:*:sagemaker:*:*:domain/*",
                    "arn:*:sagemaker:*:*:image/*",
                    "arn:*:sagemaker:*:*:space/*/*",
                    "arn:*:sagemaker:*:*:studio-lifecycle-config/*",
                    "arn:*:sagemaker:*:*:user-profile/*/*"
                ],
                "Condition": {"StringEquals": {"aws:RequestTag/studio-operator.io/cluster": "prod-eu"}}
            })
        );
        assert_eq!(
            statements["SageMakerChangeOwnedOrUnmanaged"]["Condition"],
            serde_json::json!({"StringEqualsIfExists": {"aws:ResourceTag/studio-operator.io/cluster": "prod-eu"}})
        );
        assert_eq!(
            statements["SageMakerReadUnscoped"]["Resource"], "*",
            "List calls support no resource-level permission"
        );
        let owned = &statements["SageMakerChangeOwnedOrUnmanaged"]["Action"];
        assert!(
            owned
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("sagemaker:DeleteApp")),
            "DeleteApp never reaches another cluster's apps: {owned}"
        );
    }

    #[test]
    fn roles_are_scoped_by_options() {
        let statements = by_sid(&operator_policy(&options()));
        assert_eq!(
            statements["IamPassExecutionRoles"],
            serde_json::json!({
                "Sid": "IamPassExecutionRoles",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "arn:aws:iam::123456789012:role/studio-exec",
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
            })
        );
        let statements = by_sid(&operator_policy(&OperatorPolicyOptions {
            role_arn_patterns: vec!["arn:aws:iam::*:role/studio-operator-*".into()],
            execution_role_arns: vec![
                "arn:aws:iam::123456789012:role/studio-exec-b".into(),
                "arn:aws:iam::123456789012:role/studio-exec-a".into(),
            ],
            ..options()
        }));
        assert_eq!(
            statements["IamPassExecutionRoles"]["Resource"],
            serde_json::json!([
                "arn:aws:iam::123456789012:role/studio-exec-a",
                "arn:aws:iam::123456789012:role/studio-exec-b"
            ])
        );
        assert_eq!(
            statements["StsAssumeDomainRoles"],
            serde_json::json!({
                "Sid": "StsAssumeDomainRoles",
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Resource": "arn:aws:iam::*:role/studio-operator-*"
            })
        );
    }
}
