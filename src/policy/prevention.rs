//! A Guardrail's rules as the whitepaper's IAM guardrails ("Gemeinsame Leitplanken",
//! "Leitplanken zum Datenschutz"), so AWS itself refuses what the operator would refuse, also for
//! the console, the CLI and Studio users.
//!
//! Where each statement goes:
//! - [`SCP_FILE`], a service control policy of Deny statements for the OU or accounts that hold
//!   the Studio domains. It binds every principal there, the operator included, so it holds only
//!   rules the operator obeys anyway (it refuses specs that break them) and never a call the
//!   operator must make: instance types, images, `VpcOnly`, customer managed keys, required tags
//!   and the networks Studio may be opened from (the operator never calls
//!   `CreatePresignedDomainUrl`). The same document also works as an identity policy on admin
//!   roles where SCPs are not available, so there is no separate admin boundary.
//! - [`USER_IDENTITY_FILE`], for the IAM users and roles people open Studio with (IAM-mode
//!   domains): the whitepaper's `studiouserid` tag match. It cannot be an SCP because the operator
//!   itself adds and changes `studiouserid` tags.
//!
//! The documents apply to whole accounts, not to the Guardrail's selector; `Audit` guardrails
//! render the same documents (attaching them is the choice of whoever applies them).
//!
//! Not rendered, because IAM has no condition key for it: `allowedAuthModes` (CreateDomain has
//! no `AuthMode` key), idle shutdown, app lifetime and keep-alive (runtime behaviour).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::document::{Effect, Policy, PolicyKind, Statement};
use crate::api::{Guardrail, GuardrailRules, GuardrailSpec};

/// File name of the service control policy.
pub const SCP_FILE: &str = "scp.json";
/// File name of the identity policy for the people who open Studio.
pub const USER_IDENTITY_FILE: &str = "studio-user-identity.json";

/// The whitepaper's tag on a user profile naming the person it belongs to.
const USER_ID_TAG: &str = "studiouserid";
/// Instance type of the JupyterServer app that hosts the Studio Classic UI: always allowed.
const SYSTEM_INSTANCE_TYPE: &str = "system";

/// Every action whose request can name instance types and images: apps themselves and the
/// default settings new apps start from, so a forbidden default cannot be stored either.
const APP_SETTING_ACTIONS: [&str; 7] = [
    "sagemaker:CreateApp",
    "sagemaker:CreateDomain",
    "sagemaker:CreateSpace",
    "sagemaker:CreateUserProfile",
    "sagemaker:UpdateDomain",
    "sagemaker:UpdateSpace",
    "sagemaker:UpdateUserProfile",
];

// ARN patterns; the partition is a wildcard so the documents also fit aws-cn and aws-us-gov.
const DOMAINS: &str = "arn:*:sagemaker:*:*:domain/*";
const USER_PROFILES: &str = "arn:*:sagemaker:*:*:user-profile/*/*";
const SPACES: &str = "arn:*:sagemaker:*:*:space/*/*";

/// The documents of a Guardrail by file name; only rules that are set produce statements, and a
/// document without statements is left out (a Guardrail with no IAM-expressible rule renders
/// nothing). Selector and enforcement do not change the documents.
pub fn policies(spec: &GuardrailSpec) -> BTreeMap<String, Policy> {
    let rules = &spec.rules;
    let mut documents = BTreeMap::new();
    let scp = scp_statements(rules);
    if !scp.is_empty() {
        documents.insert(SCP_FILE.to_string(), Policy::new(PolicyKind::ServiceControl, scp));
    }
    if rules
        .required_tags
        .as_ref()
        .is_some_and(|t| t.user_profile.iter().any(|k| k == USER_ID_TAG))
    {
        documents.insert(
            USER_IDENTITY_FILE.to_string(),
            Policy::new(PolicyKind::Managed, user_identity_statements()),
        );
    }
    documents
}

/// ConfigMap data for a Guardrail: file name to pretty JSON.
pub fn config_map_data(spec: &GuardrailSpec) -> BTreeMap<String, String> {
    policies(spec)
        .into_iter()
        .map(|(file, policy)| (file, policy.pretty()))
        .collect()
}

/// Why a Guardrail could not be taken from a YAML stream.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// A document is not YAML or not a valid Guardrail.
    #[error("not a valid Guardrail manifest: {0}")]
    Invalid(#[from] serde_norway::Error),
    /// No document is a Guardrail of that name.
    #[error("no Guardrail named {name} (Guardrails found: {found})")]
    NotFound {
        /// The name asked for.
        name: String,
        /// Names of the Guardrails that are there, comma-separated.
        found: String,
    },
}

/// The Guardrail called `name` in a (multi-document) YAML stream such as a GitOps manifest;
/// other kinds are skipped.
pub fn guardrail_from_yaml(text: &str, name: &str) -> Result<Guardrail, YamlError> {
    let mut found = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = serde_norway::Value::deserialize(document)?;
        if value.get("kind").and_then(serde_norway::Value::as_str) != Some("Guardrail") {
            continue;
        }
        let guardrail: Guardrail = serde_norway::from_value(value)?;
        if guardrail.metadata.name.as_deref() == Some(name) {
            return Ok(guardrail);
        }
        found.push(guardrail.metadata.name.unwrap_or_default());
    }
    Err(YamlError::NotFound {
        name: name.to_string(),
        found: if found.is_empty() {
            "none".into()
        } else {
            found.join(", ")
        },
    })
}

fn scp_statements(rules: &GuardrailRules) -> Vec<Statement> {
    let mut statements = Vec::new();
    if !rules.allowed_instance_types.is_empty() {
        // Whitepaper guardrail 1; the glob syntax (`*`, `?`) is IAM's StringLike syntax.
        let allowed = literals(
            rules
                .allowed_instance_types
                .iter()
                .map(String::as_str)
                .chain([SYSTEM_INSTANCE_TYPE]),
        );
        statements.push(
            Statement::new("LimitInstanceTypes", Effect::Deny, APP_SETTING_ACTIONS, ["*"]).when(
                "ForAnyValue:StringNotLike",
                "sagemaker:InstanceTypes",
                allowed,
            ),
        );
    }
    if !rules.allowed_images.is_empty() {
        // Whitepaper guardrail 3, written as a Deny (its Allow with ForAllValues:StringNotLike
        // would allow exactly the unapproved images). A request may name only an image version,
        // so versions of the allowed images are checked too.
        let images = rules.allowed_images.iter().map(String::as_str);
        statements.push(
            // ARN-typed keys take the ARN operators (wildcards per ARN segment).
            Statement::new("LimitImages", Effect::Deny, APP_SETTING_ACTIONS, ["*"]).when(
                "ForAnyValue:ArnNotLike",
                "sagemaker:ImageArns",
                literals(images.clone()),
            ),
        );
        let versions: Vec<String> = images.map(version_glob).collect();
        statements.push(
            Statement::new("LimitImageVersions", Effect::Deny, APP_SETTING_ACTIONS, ["*"]).when(
                "ForAnyValue:ArnNotLike",
                "sagemaker:ImageVersionArns",
                literals(versions.iter().map(String::as_str)),
            ),
        );
    }
    if rules.require_vpc_only {
        statements.extend(vpc_only_statements());
    }
    if rules.require_customer_managed_key {
        statements.extend(kms_statements());
    }
    if !rules.allowed_source_cidrs.is_empty() || !rules.allowed_vpc_endpoints.is_empty() {
        statements.push(studio_access_statement(rules));
    }
    if let Some(tags) = &rules.required_tags {
        statements.extend(required_tag_statements(
            &tags.domain,
            &tags.user_profile,
            &tags.shared_space,
        ));
    }
    statements
}

/// Whitepaper guardrail 2. The whitepaper ANDs a `Null` check on subnets and security groups
/// into it, which only weakens the statement; CreateDomain rejects `VpcOnly` without subnets
/// and security groups by itself, so it is left out.
fn vpc_only_statements() -> [Statement; 2] {
    const KEY: &str = "sagemaker:AppNetworkAccessType";
    [
        // A missing key means the default, PublicInternetOnly: StringNotEquals matches it.
        Statement::new("RequireVpcOnlyDomains", Effect::Deny, ["sagemaker:CreateDomain"], ["*"]).when(
            "StringNotEquals",
            KEY,
            ["VpcOnly"],
        ),
        // UpdateDomain omits the key unless it changes the access type, so only a present key
        // that is not VpcOnly is refused.
        Statement::new("KeepDomainsVpcOnly", Effect::Deny, ["sagemaker:UpdateDomain"], ["*"])
            .when("StringNotEquals", KEY, ["VpcOnly"])
            .when("Null", KEY, ["false"]),
    ]
}

/// The whitepaper's data-protection guardrails for a domain's volumes and its sharing bucket.
///
/// AWS now documents `sagemaker:VolumeKmsKey` and `sagemaker:DomainSharingOutputKmsKey` as
/// deprecated in favour of their `...Arn` keys; a request is refused only when both are absent, so
/// the statements hold whichever of the two the service fills in.
///
/// The sharing key is required on CreateDomain only. IAM cannot tell "no sharing settings in
/// this request" from "sharing settings without a key" (no key exposes `S3OutputPath`), so a
/// Deny on UpdateDomain or on profiles would refuse every update that leaves sharing alone. As a
/// result every domain must name `SharingSettings.S3KmsKeyId` when it is created, even with
/// notebook sharing disabled; later changes are left to the operator's own check. A bucket-side
/// `s3:PutObject` Deny would need the bucket's name, which a Guardrail does not have.
fn kms_statements() -> [Statement; 2] {
    [
        Statement::new(
            "RequireDomainVolumeKmsKey",
            Effect::Deny,
            ["sagemaker:CreateDomain"],
            ["*"],
        )
        .when("Null", "sagemaker:VolumeKmsKey", ["true"])
        .when("Null", "sagemaker:VolumeKmsKeyArn", ["true"]),
        Statement::new(
            "RequireDomainSharingKmsKey",
            Effect::Deny,
            ["sagemaker:CreateDomain"],
            ["*"],
        )
        .when("Null", "sagemaker:DomainSharingOutputKmsKey", ["true"])
        .when("Null", "sagemaker:DomainSharingOutputKmsKeyArn", ["true"]),
    ]
}

/// Whitepaper guardrails 4 and 5 as one Deny: Studio may be opened from an allowed network or
/// through an allowed VPC endpoint. The conditions of one statement must all match for the Deny
/// to apply, and a key missing from the request makes a negated operator match, so each allowed
/// way in is one condition that a request coming that way fails:
/// - public CIDRs against `aws:SourceIp` (absent for requests through a VPC endpoint);
/// - private CIDRs against `aws:VpcSourceIp` (present only through a VPC endpoint): a private
///   range on `aws:SourceIp` would never match and lock everyone out;
/// - endpoints against `aws:SourceVpce`.
///
/// `DescribeUserProfile`, which the whitepaper restricts alongside, is left open: the operator
/// calls it from its cluster, which is on neither list.
fn studio_access_statement(rules: &GuardrailRules) -> Statement {
    let mut statement = Statement::new(
        "LimitStudioAccessNetworks",
        Effect::Deny,
        ["sagemaker:CreatePresignedDomainUrl"],
        ["*"],
    );
    let (private, public): (BTreeSet<&String>, BTreeSet<&String>) =
        rules.allowed_source_cidrs.iter().partition(|c| is_private_cidr(c));
    if !public.is_empty() {
        statement = statement.when("NotIpAddress", "aws:SourceIp", public.into_iter().cloned());
    }
    if !private.is_empty() {
        statement = statement.when("NotIpAddress", "aws:VpcSourceIp", private.into_iter().cloned());
    }
    if !rules.allowed_vpc_endpoints.is_empty() {
        let endpoints = literals(rules.allowed_vpc_endpoints.iter().map(String::as_str));
        statement = statement.when("StringNotEquals", "aws:SourceVpce", endpoints);
    }
    statement
}

/// Whether a CIDR lies in address space that never reaches AWS's public endpoints: RFC 1918,
/// the shared address space of RFC 6598, IPv6 unique local addresses.
fn is_private_cidr(cidr: &str) -> bool {
    let address = cidr.split('/').next().unwrap_or_default();
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        Ok(std::net::IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// Whitepaper guardrail 7 for Studio: a create without one of the required tags is refused, one
/// statement per tag key (a `Null` block with several keys would only refuse requests missing all
/// of them). Only shared spaces need their tags: `sagemaker:SpaceSharingType` exempts the private
/// spaces users create in Studio, which has no way to tag them.
///
/// Required tags must not be removed later either (`aws:TagKeys` on DeleteTags); adding or
/// overwriting stays allowed.
fn required_tag_statements(domain: &[String], user_profile: &[String], shared_space: &[String]) -> Vec<Statement> {
    let mut actions_by_key: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (keys, action) in [
        (domain, "sagemaker:CreateDomain"),
        (user_profile, "sagemaker:CreateUserProfile"),
        (shared_space, "sagemaker:CreateSpace"),
    ] {
        for key in keys {
            actions_by_key.entry(key).or_default().insert(action);
        }
    }
    let mut sids = BTreeSet::new();
    let mut statements = Vec::new();
    for (key, mut actions) in actions_by_key {
        let missing = || (format!("aws:RequestTag/{key}"), ["true"]);
        // Spaces get a statement of their own: the sharing-type key exists only for CreateSpace.
        if actions.remove("sagemaker:CreateSpace") {
            let sid = unique_sid(&mut sids, format!("RequireTag{}OnSharedSpaces", sid_words(key)));
            let (tag, absent) = missing();
            statements.push(
                Statement::new(sid, Effect::Deny, ["sagemaker:CreateSpace"], ["*"])
                    .when("Null", tag, absent)
                    // Absent on spaces created without sharing settings (which are shared), so
                    // IfExists keeps them covered.
                    .when("StringEqualsIfExists", "sagemaker:SpaceSharingType", ["Shared"]),
            );
        }
        if !actions.is_empty() {
            let sid = unique_sid(&mut sids, format!("RequireTag{}", sid_words(key)));
            let (tag, absent) = missing();
            statements
                .push(Statement::new(sid, Effect::Deny, actions.iter().copied(), ["*"]).when("Null", tag, absent));
        }
    }
    for (sid, resource, keys) in [
        ("ProtectRequiredDomainTags", DOMAINS, domain),
        ("ProtectRequiredUserProfileTags", USER_PROFILES, user_profile),
        ("ProtectRequiredSharedSpaceTags", SPACES, shared_space),
    ] {
        if !keys.is_empty() {
            statements.push(
                Statement::new(sid, Effect::Deny, ["sagemaker:DeleteTags"], [resource]).when(
                    "ForAnyValue:StringEquals",
                    "aws:TagKeys",
                    literals(keys.iter().map(String::as_str)),
                ),
            );
        }
    }
    statements
}

/// Whitepaper guardrail 6 ("prevent access to other profiles"), for principals tagged
/// `studiouserid`: `${aws:PrincipalTag/...}` works for federated roles and IAM users alike. The
/// Allow is the whitepaper's statement; the Denys keep it true when the principal holds broader
/// grants (e.g. AmazonSageMakerFullAccess), including one for principals without the tag, where
/// the policy variable would not resolve. Users must not move the tag to another profile either.
fn user_identity_statements() -> Vec<Statement> {
    let resource_tag = format!("sagemaker:ResourceTag/{USER_ID_TAG}");
    let principal_tag = format!("aws:PrincipalTag/{USER_ID_TAG}");
    let principal_value = format!("${{{principal_tag}}}");
    let presign = ["sagemaker:CreatePresignedDomainUrl"];
    vec![
        Statement::new(
            "AllowPresignedUrlForOwnProfile",
            Effect::Allow,
            presign,
            [USER_PROFILES],
        )
        .when("StringEquals", &resource_tag, [&principal_value]),
        Statement::new(
            "DenyPresignedUrlForOtherProfiles",
            Effect::Deny,
            presign,
            [USER_PROFILES],
        )
        .when("StringNotEquals", &resource_tag, [&principal_value]),
        Statement::new("DenyPresignedUrlWithoutUserTag", Effect::Deny, presign, [USER_PROFILES]).when(
            "Null",
            principal_tag,
            ["true"],
        ),
        Statement::new(
            "DenyChangingUserIdTag",
            Effect::Deny,
            ["sagemaker:AddTags", "sagemaker:DeleteTags"],
            [USER_PROFILES],
        )
        .when("ForAnyValue:StringEquals", "aws:TagKeys", [USER_ID_TAG]),
    ]
}

/// The version ARN glob of an image ARN glob: `...:image/NAME` becomes
/// `...:image-version/NAME/*`. A glob without `:image/` (e.g. `*`) already matches versions.
fn version_glob(image: &str) -> String {
    match image.split_once(":image/") {
        Some((prefix, name)) => format!("{prefix}:image-version/{name}/*"),
        None => image.to_string(),
    }
}

/// Sorted, de-duplicated condition values taken literally. `*` and `?` keep their wildcard
/// meaning (the CRD's globs are IAM's); `$` is escaped as `${$}` so that `${` in a value can
/// never become a policy variable.
fn literals<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: BTreeSet<String> = values.map(|v| v.replace('$', "${$}")).collect();
    set.into_iter().collect()
}

/// `cost-center` -> `CostCenter`: the letters and digits of a tag key, for a Sid.
fn sid_words(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `sid`, or `sid2`, `sid3`, ... when keys such as `team` and `Team` would repeat one.
fn unique_sid(used: &mut BTreeSet<String>, sid: String) -> String {
    let mut candidate = sid.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{sid}{n}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::api::RequiredTags;
    use crate::policy::document::grammar_problems;

    /// Directories under tests/fixtures/policies, each a guardrail.yaml and its expected files.
    fn fixture_cases() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies");
        let mut cases: Vec<PathBuf> = fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .collect();
        cases.sort();
        cases
    }

    fn fixture_spec(case: &Path) -> GuardrailSpec {
        let path = case.join("guardrail.yaml");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let guardrail: Guardrail = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        guardrail.spec
    }

    fn expected_files(case: &Path) -> BTreeMap<String, String> {
        fs::read_dir(case)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, fs::read_to_string(&path).unwrap())
            })
            .collect()
    }

    /// Renders every fixture and compares with its expected files byte for byte.
    /// `UPDATE_POLICY_FIXTURES=1 cargo test --lib policy` rewrites them instead (review the diff).
    #[test]
    fn fixtures_render_exactly() {
        let update = std::env::var("UPDATE_POLICY_FIXTURES").is_ok_and(|v| v == "1");
        let cases = fixture_cases();
        assert!(
            cases.len() >= 5,
            "expected at least 5 fixture cases, found {}",
            cases.len()
        );
        for case in cases {
            let rendered = config_map_data(&fixture_spec(&case));
            let expected = expected_files(&case);
            if update {
                for stale in expected.keys().filter(|f| !rendered.contains_key(*f)) {
                    fs::remove_file(case.join(stale)).unwrap();
                }
                for (file, text) in &rendered {
                    fs::write(case.join(file), text).unwrap();
                }
                continue;
            }
            let hint = "(UPDATE_POLICY_FIXTURES=1 cargo test --lib policy rewrites the fixtures)";
            assert_eq!(
                rendered.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{}: rendered files differ from the expected ones {hint}",
                case.display()
            );
            for (file, text) in &rendered {
                assert_eq!(text, &expected[file], "{}/{file} differs {hint}", case.display());
            }
        }
    }

    #[test]
    fn fixtures_are_valid_iam_within_size_limits() {
        for case in fixture_cases() {
            for (file, policy) in policies(&fixture_spec(&case)) {
                let at = format!("{}/{file}", case.display());
                let parsed: serde_json::Value = serde_json::from_str(&policy.minified()).expect(&at);
                assert_eq!(parsed, policy.to_value(), "{at}");
                if let Err(too_large) = policy.check_size(&file) {
                    panic!("{at}: {too_large}");
                }
                assert_eq!(grammar_problems(&policy), Vec::<String>::new(), "{at}");
            }
        }
    }

    #[test]
    fn oversized_guardrails_are_reported_with_file_and_limit() {
        let mut spec = GuardrailSpec {
            selector: Default::default(),
            enforcement: Default::default(),
            rules: GuardrailRules::default(),
        };
        spec.rules.allowed_images = (0..100)
            .map(|i| format!("arn:aws:sagemaker:eu-central-1:123456789012:image/team-image-{i:03}"))
            .collect();
        let documents = policies(&spec);
        let error = documents[SCP_FILE].check_size(SCP_FILE).unwrap_err();
        assert_eq!(error.file, SCP_FILE);
        assert_eq!(error.max, 5120);
        assert!(error.to_string().starts_with("scp.json is "), "{error}");
        assert!(
            error
                .to_string()
                .contains("over the 5120-character limit of a service control policy")
        );
    }

    #[test]
    fn guardrails_are_found_by_name_in_yaml_streams() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml}\n---\n\
                    apiVersion: studio-operator.io/v1alpha1\nkind: Guardrail\nmetadata: {name: a}\nspec: {}\n---\n\
                    apiVersion: studio-operator.io/v1alpha1\nkind: Guardrail\nmetadata: {name: b}\n\
                    spec: {rules: {requireVpcOnly: true}}\n---\n";
        let b = guardrail_from_yaml(text, "b").unwrap();
        assert!(b.spec.rules.require_vpc_only);
        let error = guardrail_from_yaml(text, "c").unwrap_err();
        assert_eq!(error.to_string(), "no Guardrail named c (Guardrails found: a, b)");
        assert!(matches!(
            guardrail_from_yaml("kind: Guardrail\nspec: [", "a"),
            Err(YamlError::Invalid(_))
        ));
    }

    #[test]
    fn empty_rules_render_nothing() {
        let spec: GuardrailSpec = serde_norway::from_str("rules: {}").unwrap();
        assert!(policies(&spec).is_empty());
        let spec: GuardrailSpec =
            serde_norway::from_str("rules: {allowedAuthModes: [SSO], maxAppLifetimeHours: 8, allowKeepAlive: true}")
                .unwrap();
        assert!(
            policies(&spec).is_empty(),
            "rules without an IAM condition key render nothing"
        );
    }

    #[test]
    fn networks_alone_refuse_the_other_path() {
        let rules = GuardrailRules {
            allowed_source_cidrs: vec!["203.0.113.0/24".into()],
            ..Default::default()
        };
        let statement = studio_access_statement(&rules);
        assert_eq!(statement.condition.keys().collect::<Vec<_>>(), ["NotIpAddress"]);
        let rules = GuardrailRules {
            allowed_vpc_endpoints: vec!["vpce-2".into(), "vpce-1".into(), "vpce-2".into()],
            ..Default::default()
        };
        let statement = studio_access_statement(&rules);
        assert_eq!(
            serde_json::to_value(&statement.condition).unwrap(),
            serde_json::json!({"StringNotEquals": {"aws:SourceVpce": ["vpce-1", "vpce-2"]}})
        );
    }

    #[test]
    fn private_networks_are_matched_where_requests_from_them_carry_their_address() {
        let rules = GuardrailRules {
            allowed_source_cidrs: vec![
                "10.0.0.0/8".into(),
                "203.0.113.0/24".into(),
                "100.64.0.0/10".into(),
                "fd00::/8".into(),
                "2001:db8::/32".into(),
            ],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&studio_access_statement(&rules).condition).unwrap(),
            serde_json::json!({"NotIpAddress": {
                "aws:SourceIp": ["2001:db8::/32", "203.0.113.0/24"],
                "aws:VpcSourceIp": ["10.0.0.0/8", "100.64.0.0/10", "fd00::/8"],
            }})
        );
        assert!(is_private_cidr("172.16.0.0/12") && is_private_cidr("192.168.1.0/24"));
        assert!(!is_private_cidr("172.32.0.0/16") && !is_private_cidr("100.128.0.0/16"));
    }

    #[test]
    fn tag_keys_become_unique_sids() {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let statements = required_tag_statements(&keys(&["cost-center", "Cost.Center"]), &[], &[]);
        let sids: Vec<&str> = statements.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(
            sids,
            [
                "RequireTagCostCenter",
                "RequireTagCostCenter2",
                "ProtectRequiredDomainTags"
            ]
        );
        assert_eq!(sid_words("studio-operator.io/cluster"), "StudioOperatorIoCluster");
    }

    #[test]
    fn values_are_literal_except_for_wildcards() {
        assert_eq!(
            literals(["ml.t3.*", "a${aws:username}", "ml.t3.*"].into_iter()),
            ["a${$}{aws:username}", "ml.t3.*"]
        );
        assert_eq!(
            version_glob("arn:aws:sagemaker:*:*:image/team-*"),
            "arn:aws:sagemaker:*:*:image-version/team-*/*"
        );
        assert_eq!(version_glob("*"), "*");
    }

    #[test]
    fn the_user_identity_policy_needs_the_studiouserid_requirement() {
        let mut rules = GuardrailRules {
            required_tags: Some(RequiredTags {
                user_profile: vec!["team".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let spec = |rules: &GuardrailRules| GuardrailSpec {
            selector: Default::default(),
            enforcement: Default::default(),
            rules: rules.clone(),
        };
        assert!(!policies(&spec(&rules)).contains_key(USER_IDENTITY_FILE));
        rules
            .required_tags
            .as_mut()
            .unwrap()
            .user_profile
            .push(USER_ID_TAG.into());
        let documents = policies(&spec(&rules));
        let identity = documents[USER_IDENTITY_FILE].to_value();
        assert_eq!(
            identity["Statement"][0]["Condition"]["StringEquals"]["sagemaker:ResourceTag/studiouserid"],
            "${aws:PrincipalTag/studiouserid}"
        );
    }
}
