//! STS over the query protocol: AssumeRole (issuing keys that map to the role's account and
//! carry the session's name, tags and source identity) and GetCallerIdentity, answering XML
//! like STS. Roles can be given trust conditions (a required ExternalId, required session tag
//! keys) through the control API; a call that does not meet them is denied as STS denies it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::{Millis, secs_to_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::tags::Tag;
use crate::state::{Identity, State};
use crate::validate::{Violations, is_role_arn};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Patterns of the STS model (`sts/2011-06-15`).
const SESSION_NAME_PATTERN: &str = "[\\w+=,.@-]*";
const EXTERNAL_ID_PATTERN: &str = "[\\w+=,.@:\\/-]*";
const TAG_KEY_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
const TAG_VALUE_PATTERN: &str = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";
/// Session tags and transitive tag keys per AssumeRole call.
const MAX_SESSION_TAGS: usize = 50;

/// What a role's trust policy demands of AssumeRole, as set through the control API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleTrust {
    pub role_arn: String,
    /// `sts:ExternalId` the caller must pass (a trust policy condition).
    pub external_id: Option<String>,
    /// Session tag keys the caller must pass (`aws:RequestTag/<key>` conditions).
    pub required_session_tags: Vec<String>,
}

/// Escapes text for XML element content.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn iso8601(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn sts_validation(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "ValidationError", message)
}

/// Handles one STS action; returns the XML body of a successful answer.
pub fn handle(
    state: &mut State,
    caller: &Identity,
    action: &str,
    params: &HashMap<String, String>,
    now: Millis,
    request_id: &str,
) -> ApiResult<String> {
    match action {
        "AssumeRole" => assume_role(state, caller, params, now, request_id),
        "GetCallerIdentity" => Ok(format!(
            "<GetCallerIdentityResponse xmlns=\"{NS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            xml_escape(&caller.arn),
            xml_escape(&caller.user_id),
            xml_escape(&caller.account)
        )),
        other => Err(ApiError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

/// `Tags.member.N.Key` / `Tags.member.N.Value` in N order (N from 1, as sent).
fn session_tags(params: &HashMap<String, String>) -> Vec<(usize, Option<String>, Option<String>)> {
    let mut by_index: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    for (name, value) in params {
        let Some(rest) = name.strip_prefix("Tags.member.") else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let entry = by_index.entry(index).or_default();
        match field {
            "Key" => entry.0 = Some(value.clone()),
            "Value" => entry.1 = Some(value.clone()),
            _ => {}
        }
    }
    by_index.into_iter().map(|(i, (k, v))| (i, k, v)).collect()
}

/// `TransitiveTagKeys.member.N` in N order.
fn transitive_keys(params: &HashMap<String, String>) -> Vec<String> {
    let mut keys: Vec<(usize, String)> = params
        .iter()
        .filter_map(|(name, value)| {
            let index = name.strip_prefix("TransitiveTagKeys.member.")?.parse().ok()?;
            Some((index, value.clone()))
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// Request members of an STS call worth recording in the call log: which role, which session,
/// the ExternalId and the session tags (as sent, also when the call is refused).
pub fn call_members(params: &HashMap<String, String>) -> Value {
    let mut out = serde_json::Map::new();
    for name in [
        "RoleArn",
        "RoleSessionName",
        "ExternalId",
        "SourceIdentity",
        "DurationSeconds",
    ] {
        if let Some(v) = params.get(name) {
            out.insert(name.into(), json!(v));
        }
    }
    let tags: Vec<Value> = session_tags(params)
        .into_iter()
        .map(|(_, k, v)| json!({"Key": k, "Value": v}))
        .collect();
    if !tags.is_empty() {
        out.insert("Tags".into(), Value::Array(tags));
    }
    let transitive = transitive_keys(params);
    if !transitive.is_empty() {
        out.insert("TransitiveTagKeys".into(), json!(transitive));
    }
    Value::Object(out)
}

/// A string member checked against the STS model's length and pattern.
fn check_string(v: &mut Violations, member: &str, value: &str, min: u64, max: u64, pattern: &str) {
    v.length(member, value, value.chars().count(), Some(min), Some(max));
    v.pattern(member, value, pattern);
}

/// The validated AssumeRole request.
struct AssumeRoleRequest {
    role_arn: String,
    session_name: String,
    duration: i64,
    external_id: Option<String>,
    source_identity: Option<String>,
    tags: Vec<Tag>,
    transitive_keys: Vec<String>,
}

fn parse_assume_role(params: &HashMap<String, String>) -> ApiResult<AssumeRoleRequest> {
    let mut v = Violations::default();
    let role_arn = params.get("RoleArn");
    let session_name = params.get("RoleSessionName");
    match role_arn {
        Some(arn) => v.length("roleArn", arn, arn.chars().count(), Some(20), Some(2048)),
        None => v.not_null("roleArn"),
    }
    match session_name {
        Some(name) => check_string(&mut v, "roleSessionName", name, 2, 64, SESSION_NAME_PATTERN),
        None => v.not_null("roleSessionName"),
    }
    let duration = match params.get("DurationSeconds") {
        Some(d) => {
            let seconds = d
                .parse::<i64>()
                .map_err(|_| sts_validation(format!("Invalid DurationSeconds {d}")))?;
            v.range("durationSeconds", seconds as f64, Some(900.0), Some(43_200.0));
            seconds
        }
        None => 3600,
    };
    let external_id = params.get("ExternalId").cloned();
    if let Some(id) = &external_id {
        check_string(&mut v, "externalId", id, 2, 1224, EXTERNAL_ID_PATTERN);
    }
    let source_identity = params.get("SourceIdentity").cloned();
    if let Some(id) = &source_identity {
        check_string(&mut v, "sourceIdentity", id, 2, 256, SESSION_NAME_PATTERN);
    }
    let raw_tags = session_tags(params);
    if raw_tags.len() > MAX_SESSION_TAGS {
        v.length(
            "tags",
            &format!("[{} items]", raw_tags.len()),
            raw_tags.len(),
            None,
            Some(50),
        );
    }
    let mut tags = Vec::new();
    for (position, (_, key, value)) in raw_tags.into_iter().enumerate() {
        let path = format!("tags.{}.member", position + 1);
        match &key {
            Some(k) => check_string(&mut v, &format!("{path}.key"), k, 1, 128, TAG_KEY_PATTERN),
            None => v.not_null(&format!("{path}.key")),
        }
        match &value {
            Some(val) => check_string(&mut v, &format!("{path}.value"), val, 0, 256, TAG_VALUE_PATTERN),
            None => v.not_null(&format!("{path}.value")),
        }
        if let (Some(key), Some(value)) = (key, value) {
            tags.push(Tag { key, value });
        }
    }
    let transitive_keys = transitive_keys(params);
    if transitive_keys.len() > MAX_SESSION_TAGS {
        let shown = format!("[{} items]", transitive_keys.len());
        v.length("transitiveTagKeys", &shown, transitive_keys.len(), None, Some(50));
    }
    for (i, key) in transitive_keys.iter().enumerate() {
        let member = format!("transitiveTagKeys.{}.member", i + 1);
        check_string(&mut v, &member, key, 1, 128, TAG_KEY_PATTERN);
    }
    v.into_result("ValidationError")?;
    let role_arn = role_arn.cloned().unwrap_or_default();
    if !is_role_arn(&role_arn) {
        return Err(sts_validation(format!("{role_arn} is invalid")));
    }
    // Session tag keys are case-insensitive and must be unique.
    for (i, tag) in tags.iter().enumerate() {
        if tags[..i].iter().any(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
            return Err(sts_validation(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
    }
    if let Some(k) = transitive_keys
        .iter()
        .find(|k| !tags.iter().any(|t| t.key.eq_ignore_ascii_case(k)))
    {
        return Err(sts_validation(format!(
            "The transitive tag key {k} must be one of the session tag keys."
        )));
    }
    Ok(AssumeRoleRequest {
        role_arn,
        session_name: session_name.cloned().unwrap_or_default(),
        duration,
        external_id,
        source_identity,
        tags,
        transitive_keys,
    })
}

/// The AccessDenied answer STS gives when a trust policy does not allow the call.
fn access_denied(caller: &Identity, role_arn: &str) -> ApiError {
    ApiError::new(
        403,
        "AccessDenied",
        format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        ),
    )
}

fn assume_role(
    state: &mut State,
    caller: &Identity,
    params: &HashMap<String, String>,
    now: Millis,
    request_id: &str,
) -> ApiResult<String> {
    let req = parse_assume_role(params)?;
    if let Some(trust) = state.role_trusts.get(&req.role_arn) {
        let external_id_ok = trust.external_id.is_none() || trust.external_id == req.external_id;
        let tags_ok = trust
            .required_session_tags
            .iter()
            .all(|k| req.tags.iter().any(|t| &t.key == k));
        if !external_id_ok || !tags_ok {
            return Err(access_denied(caller, &req.role_arn));
        }
    }
    // Role chaining: the caller's transitive session tags pass into the new session.
    let mut tags: Vec<Tag> = caller
        .session_tags
        .iter()
        .filter(|t| caller.transitive_tag_keys.contains(&t.key))
        .cloned()
        .collect();
    for tag in req.tags {
        if !tags.iter().any(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
            tags.push(tag);
        }
    }
    // The share of the packed session limit STS reports; the emulator counts 2% per session tag.
    let packed_policy_size = tags.len() * 2;
    let mut transitive = caller.transitive_tag_keys.clone();
    transitive.extend(req.transitive_keys);
    let account = req.role_arn.split(':').nth(4).unwrap_or_default().to_string();
    let role_name = req.role_arn.rsplit('/').next().unwrap_or_default().to_string();
    let access_key = format!("ASIA{}", state.random_upper(16));
    let secret = state.random_alnum(40);
    let token = format!("FwoGZXIvYXdzE{}", state.random_alnum(120));
    let role_id = format!("AROA{}", state.random_upper(17));
    let session = &req.session_name;
    let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
    let assumed_id = format!("{role_id}:{session}");
    let source_identity = req.source_identity.or_else(|| caller.source_identity.clone());
    state.identities.insert(
        access_key.clone(),
        Identity {
            account,
            arn: assumed_arn.clone(),
            user_id: assumed_id.clone(),
            session_tags: tags,
            transitive_tag_keys: transitive,
            source_identity: source_identity.clone(),
        },
    );
    let expiration = iso8601(now + secs_to_ms(req.duration as f64));
    let source = source_identity
        .map(|s| format!("    <SourceIdentity>{}</SourceIdentity>\n", xml_escape(&s)))
        .unwrap_or_default();
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"{NS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{access_key}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n    <PackedPolicySize>{packed_policy_size}</PackedPolicySize>\n{source}  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        xml_escape(&assumed_arn),
        xml_escape(&assumed_id),
    ))
}

/// STS error document.
pub fn error_xml(err: &ApiError, request_id: &str) -> String {
    let kind = if err.status >= 500 { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        xml_escape(&err.code),
        xml_escape(&err.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn caller(state: &State) -> Identity {
        state.identity("AKIDTEST")
    }

    fn access_key(xml: &str) -> &str {
        xml.split("<AccessKeyId>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
    }

    #[test]
    fn assumed_keys_map_to_the_role_account() {
        let mut state = State::new(&Config::default());
        let p = params(&[
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "test"),
        ]);
        let me = caller(&state);
        let xml = assume_role(&mut state, &me, &p, 0, "rid").unwrap();
        assert_eq!(state.identity(access_key(&xml)).account, "210987654321");
        assert!(xml.contains("assumed-role/Admin/test"));
        assert!(xml.contains("<Expiration>1970-01-01T01:00:00Z</Expiration>"));
    }

    #[test]
    fn bad_role_arn() {
        let mut state = State::new(&Config::default());
        let p = params(&[("RoleArn", "nope-but-twenty-chars"), ("RoleSessionName", "s1")]);
        let me = caller(&state);
        let err = assume_role(&mut state, &me, &p, 0, "r").unwrap_err();
        assert_eq!(err.code, "ValidationError");
    }

    #[test]
    fn every_violation_is_reported() {
        let p = params(&[
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "x"),
            ("ExternalId", "has space"),
            ("Tags.member.1.Key", "k#"),
            ("Tags.member.1.Value", "v"),
        ]);
        let err = parse_assume_role(&p).err().unwrap();
        assert_eq!(err.code, "ValidationError");
        assert!(
            err.message.starts_with("3 validation errors detected: "),
            "{}",
            err.message
        );
        assert!(err.message.contains(
            "at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
        ));
        assert!(
            err.message.contains(
                "at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern"
            )
        );
        assert!(err.message.contains("at 'tags.1.member.key'"));
    }

    #[test]
    fn session_tags_are_parsed_in_order_and_checked() {
        let p = params(&[
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "s1"),
            ("Tags.member.2.Key", "team"),
            ("Tags.member.2.Value", "ml"),
            ("Tags.member.1.Key", "project"),
            ("Tags.member.1.Value", "studio"),
            ("TransitiveTagKeys.member.1", "team"),
        ]);
        let req = parse_assume_role(&p).unwrap();
        let keys: Vec<&str> = req.tags.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["project", "team"]);
        assert_eq!(req.transitive_keys, ["team"]);
        let mut dup = p.clone();
        dup.insert("Tags.member.3.Key".into(), "TEAM".into());
        dup.insert("Tags.member.3.Value".into(), "x".into());
        assert!(
            parse_assume_role(&dup)
                .err()
                .unwrap()
                .message
                .contains("Duplicate tag keys")
        );
        let mut many = params(&[
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "s1"),
        ]);
        for i in 1..=51 {
            many.insert(format!("Tags.member.{i}.Key"), format!("k{i}"));
            many.insert(format!("Tags.member.{i}.Value"), "v".into());
        }
        let err = parse_assume_role(&many).err().unwrap();
        assert!(
            err.message
                .contains("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
        );
    }

    #[test]
    fn trust_conditions_deny_with_access_denied() {
        let mut state = State::new(&Config::default());
        let role = "arn:aws:iam::210987654321:role/Admin";
        state.role_trusts.insert(
            role.into(),
            RoleTrust {
                role_arn: role.into(),
                external_id: Some("tenant-42".into()),
                required_session_tags: vec!["team".into()],
            },
        );
        let me = caller(&state);
        let without = params(&[("RoleArn", role), ("RoleSessionName", "s1")]);
        let err = assume_role(&mut state, &me, &without, 0, "r").unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (403, "AccessDenied"));
        assert_eq!(
            err.message,
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role}",
                me.arn
            )
        );
        let id_only = params(&[
            ("RoleArn", role),
            ("RoleSessionName", "s1"),
            ("ExternalId", "tenant-42"),
        ]);
        assert_eq!(
            assume_role(&mut state, &me, &id_only, 0, "r").unwrap_err().code,
            "AccessDenied"
        );
        let both = params(&[
            ("RoleArn", role),
            ("RoleSessionName", "s1"),
            ("ExternalId", "tenant-42"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "ml"),
        ]);
        let xml = assume_role(&mut state, &me, &both, 0, "r").unwrap();
        let identity = state.identity(access_key(&xml));
        assert_eq!(
            identity.session_tags,
            vec![Tag {
                key: "team".into(),
                value: "ml".into()
            }]
        );
        assert_eq!(identity.arn, "arn:aws:sts::210987654321:assumed-role/Admin/s1");
    }

    #[test]
    fn call_members_carry_session_details() {
        let p = params(&[
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "s1"),
            ("ExternalId", "tenant-42"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "ml"),
        ]);
        let m = call_members(&p);
        assert_eq!(m["ExternalId"], "tenant-42");
        assert_eq!(m["RoleSessionName"], "s1");
        assert_eq!(m["Tags"], json!([{"Key": "team", "Value": "ml"}]));
    }
}
