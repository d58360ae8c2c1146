//! The IAM policy grammar, as far as the rendered policies use it: typed, so every document has
//! `Version` 2012-10-17 (the only version with policy variables such as `${aws:PrincipalTag/x}`),
//! a `Sid` per statement and its elements in the conventional order.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

/// The policy language version every document declares.
pub const VERSION: &str = "2012-10-17";

/// Where a document goes, which decides its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// An AWS Organizations service control policy: at most 5,120 characters, whitespace included,
    /// so it must be submitted minified.
    ServiceControl,
    /// A customer managed IAM policy: at most 6,144 characters, whitespace not counted.
    Managed,
}

impl PolicyKind {
    /// Largest size AWS accepts, in characters of the minified document.
    pub fn max_chars(self) -> usize {
        match self {
            PolicyKind::ServiceControl => 5120,
            PolicyKind::Managed => 6144,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            PolicyKind::ServiceControl => "a service control policy",
            PolicyKind::Managed => "a managed IAM policy",
        }
    }
}

/// A document AWS would reject for its size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file} is {chars} characters minified, over the {max}-character limit of {noun}: shorten the guardrail's lists or split it"
)]
pub struct TooLarge {
    /// File name of the document.
    pub file: String,
    /// Its minified size.
    pub chars: usize,
    /// The limit of its kind.
    pub max: usize,
    /// What kind of policy it is, in words.
    pub noun: &'static str,
}

/// An IAM policy document (identity policy or SCP).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    /// Where it goes (not part of the JSON).
    #[serde(skip)]
    pub kind: PolicyKind,
    /// Always [`VERSION`].
    #[serde(rename = "Version")]
    pub version: &'static str,
    /// The statements, in a fixed order.
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

impl Policy {
    /// A document of `kind` with these statements.
    pub fn new(kind: PolicyKind, statements: Vec<Statement>) -> Self {
        Self {
            kind,
            version: VERSION,
            statements,
        }
    }

    /// The document as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("policies always serialise")
    }

    /// The document as AWS counts it: no whitespace.
    pub fn minified(&self) -> String {
        serde_json::to_string(self).expect("policies always serialise")
    }

    /// The document for people (ConfigMaps, the command line, fixtures), ending in a newline.
    pub fn pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("policies always serialise");
        text.push('\n');
        text
    }

    /// Fails when AWS would reject the document, stored as `file`, for its size.
    pub fn check_size(&self, file: &str) -> Result<(), TooLarge> {
        let chars = self.minified().chars().count();
        let max = self.kind.max_chars();
        if chars <= max {
            return Ok(());
        }
        Err(TooLarge {
            file: file.to_string(),
            chars,
            max,
            noun: self.kind.noun(),
        })
    }
}

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Overrides every grant.
    Deny,
}

/// One value or a list: a single value is written as a plain string, as in AWS's own examples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values(pub Vec<String>);

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

/// Condition block: operator (`StringEquals`, `ForAnyValue:StringNotLike`, ...) to key to values.
/// Several operators in one block, and several keys under one operator, must all match.
pub type Conditions = BTreeMap<String, BTreeMap<String, Values>>;

/// One statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Identifier, unique in its document: letters and digits only.
    pub sid: String,
    /// Allow or Deny.
    pub effect: Effect,
    /// `service:Operation` names.
    pub action: Values,
    /// ARN patterns or `*`.
    pub resource: Values,
    /// When the statement applies; empty means always.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Conditions,
}

impl Statement {
    /// A statement without conditions.
    pub fn new<A, R>(sid: impl Into<String>, effect: Effect, actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Self {
            sid: sid.into(),
            effect,
            action: Values(actions.into_iter().map(Into::into).collect()),
            resource: Values(resources.into_iter().map(Into::into).collect()),
            condition: Conditions::new(),
        }
    }

    /// Adds `operator: {key: values}` to the condition block.
    pub fn when<V>(mut self, operator: &str, key: impl Into<String>, values: V) -> Self
    where
        V: IntoIterator,
        V::Item: Into<String>,
    {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .insert(key.into(), Values(values.into_iter().map(Into::into).collect()));
        self
    }
}

/// Condition keys that hold a list, the only ones `ForAnyValue:`/`ForAllValues:` may qualify.
#[cfg(test)]
const MULTIVALUED_KEYS: [&str; 4] = [
    "aws:TagKeys",
    "sagemaker:ImageArns",
    "sagemaker:ImageVersionArns",
    "sagemaker:InstanceTypes",
];

/// Everything in `policy` that breaks the IAM grammar as the renderers use it (empty when none):
/// a mechanical second reader next to the hand-reviewed fixtures.
#[cfg(test)]
pub(crate) fn grammar_problems(policy: &Policy) -> Vec<String> {
    const OPERATORS: [&str; 10] = [
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "ArnLike",
        "ArnNotLike",
        "IpAddress",
        "NotIpAddress",
        "Bool",
        "Null",
    ];
    let mut problems = Vec::new();
    if policy.version != VERSION {
        problems.push(format!("Version {}", policy.version));
    }
    if policy.statements.is_empty() {
        problems.push("no statement".into());
    }
    let mut sids = std::collections::BTreeSet::new();
    for s in &policy.statements {
        if s.sid.is_empty() || !s.sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push(format!("Sid {:?} is not alphanumeric", s.sid));
        }
        if !sids.insert(&s.sid) {
            problems.push(format!("Sid {} is not unique", s.sid));
        }
        if s.action.0.is_empty() || s.resource.0.is_empty() {
            problems.push(format!("{}: empty Action or Resource", s.sid));
        }
        for action in &s.action.0 {
            let ok = action.split_once(':').is_some_and(|(service, op)| {
                !service.is_empty()
                    && service
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !op.is_empty()
                    && op.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
            });
            if !ok {
                problems.push(format!("{}: action {action}", s.sid));
            }
        }
        for resource in &s.resource.0 {
            if resource != "*" && !(resource.starts_with("arn:") && resource.split(':').count() >= 6) {
                problems.push(format!("{}: resource {resource}", s.sid));
            }
        }
        for (operator, keys) in &s.condition {
            let (set, rest) = match operator.split_once(':') {
                Some((set, rest)) => (Some(set), rest),
                None => (None, operator.as_str()),
            };
            let base = rest.strip_suffix("IfExists").unwrap_or(rest);
            if !OPERATORS.contains(&base) || set.is_some_and(|q| q != "ForAnyValue" && q != "ForAllValues") {
                problems.push(format!("{}: operator {operator}", s.sid));
            }
            for (key, values) in keys {
                if set.is_some() != MULTIVALUED_KEYS.contains(&key.as_str()) {
                    problems.push(format!("{}: {operator} does not fit key {key}", s.sid));
                }
                if values.0.is_empty() {
                    problems.push(format!("{}: {key} has no value", s.sid));
                }
                if base == "Null" && values.0 != ["true"] && values.0 != ["false"] {
                    problems.push(format!("{}: Null {key} must be \"true\" or \"false\"", s.sid));
                }
                if !key.contains(':') {
                    problems.push(format!("{}: key {key} has no prefix", s.sid));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_check_finds_broken_statements() {
        let policy = Policy::new(
            PolicyKind::Managed,
            vec![
                Statement::new("Bad Sid", Effect::Deny, ["CreateApp"], ["domain/*"])
                    .when("ForAnyValue:StringEquals", "aws:SourceIp", ["1.2.3.4/32"])
                    .when("Null", "sagemaker:VolumeKmsKey", ["yes"]),
                Statement::new("Bad Sid", Effect::Allow, ["sagemaker:CreateApp"], ["*"]),
            ],
        );
        assert_eq!(
            grammar_problems(&policy),
            [
                "Sid \"Bad Sid\" is not alphanumeric",
                "Bad Sid: action CreateApp",
                "Bad Sid: resource domain/*",
                "Bad Sid: ForAnyValue:StringEquals does not fit key aws:SourceIp",
                "Bad Sid: Null sagemaker:VolumeKmsKey must be \"true\" or \"false\"",
                "Sid \"Bad Sid\" is not alphanumeric",
                "Sid Bad Sid is not unique",
            ]
        );
    }

    #[test]
    fn elements_keep_the_conventional_order_and_single_values_are_strings() {
        let policy = Policy::new(
            PolicyKind::Managed,
            vec![Statement::new("A", Effect::Deny, ["sagemaker:CreateApp"], ["*"]).when(
                "ForAnyValue:StringNotLike",
                "sagemaker:InstanceTypes",
                ["ml.t3.*", "system"],
            )],
        );
        assert_eq!(
            policy.minified(),
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","Action":"sagemaker:CreateApp","Resource":"*","Condition":{"ForAnyValue:StringNotLike":{"sagemaker:InstanceTypes":["ml.t3.*","system"]}}}]}"#
        );
    }

    #[test]
    fn size_is_checked_against_the_limit_of_the_kind() {
        let statements: Vec<Statement> = (0..70)
            .map(|i| Statement::new(format!("S{i}"), Effect::Deny, ["sagemaker:CreateDomain"], ["*"]))
            .collect();
        let scp = Policy::new(PolicyKind::ServiceControl, statements.clone());
        let managed = Policy::new(PolicyKind::Managed, statements);
        let chars = scp.minified().len();
        assert!(chars > 5120 && chars <= 6144, "{chars}");
        let error = scp.check_size("scp.json").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "scp.json is {chars} characters minified, over the 5120-character limit of a service control \
                 policy: shorten the guardrail's lists or split it"
            )
        );
        assert_eq!(managed.check_size("x.json"), Ok(()));
    }
}
