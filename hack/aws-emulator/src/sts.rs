//! STS over the query protocol: AssumeRole (issuing keys that map to the
//! role's account) and GetCallerIdentity, answering XML like STS.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::clock::{Millis, secs_to_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::{Identity, State};
use crate::validate::is_role_arn;

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

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
        "AssumeRole" => assume_role(state, params, now, request_id),
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

fn assume_role(
    state: &mut State,
    params: &HashMap<String, String>,
    now: Millis,
    request_id: &str,
) -> ApiResult<String> {
    let role_arn = params
        .get("RoleArn")
        .ok_or_else(|| sts_validation("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
    if !is_role_arn(role_arn) {
        return Err(sts_validation(format!("{role_arn} is invalid")));
    }
    let session = params.get("RoleSessionName").ok_or_else(|| {
        sts_validation("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
    })?;
    let session_ok = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_ok {
        return Err(sts_validation(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration: i64 = match params.get("DurationSeconds") {
        Some(d) => d
            .parse()
            .map_err(|_| sts_validation(format!("Invalid DurationSeconds {d}")))?,
        None => 3600,
    };
    if !(900..=43_200).contains(&duration) {
        return Err(sts_validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
        )));
    }
    let account = role_arn.split(':').nth(4).unwrap_or_default().to_string();
    let role_name = role_arn.rsplit('/').next().unwrap_or_default().to_string();
    let access_key = format!("ASIA{}", state.random_upper(16));
    let secret = state.random_alnum(40);
    let token = format!("FwoGZXIvYXdzE{}", state.random_alnum(120));
    let role_id = format!("AROA{}", state.random_upper(17));
    let assumed_arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
    let assumed_id = format!("{role_id}:{session}");
    state.identities.insert(
        access_key.clone(),
        Identity {
            account,
            arn: assumed_arn.clone(),
            user_id: assumed_id.clone(),
        },
    );
    let expiration = iso8601(now + secs_to_ms(duration as f64));
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"{NS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{access_key}</AccessKeyId>\n      <SecretAccessKey>{secret}</SecretAccessKey>\n      <SessionToken>{token}</SessionToken>\n      <Expiration>{expiration}</Expiration>\n    </Credentials>\n    <PackedPolicySize>0</PackedPolicySize>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
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

    #[test]
    fn assumed_keys_map_to_the_role_account() {
        let mut state = State::new(&Config::default());
        let params: HashMap<String, String> = [
            ("RoleArn", "arn:aws:iam::210987654321:role/Admin"),
            ("RoleSessionName", "test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let xml = assume_role(&mut state, &params, 0, "rid").unwrap();
        let key = xml
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap();
        assert_eq!(state.identity(key).account, "210987654321");
        assert!(xml.contains("assumed-role/Admin/test"));
        assert!(xml.contains("<Expiration>1970-01-01T01:00:00Z</Expiration>"));
    }

    #[test]
    fn bad_role_arn() {
        let mut state = State::new(&Config::default());
        let params = HashMap::from([
            ("RoleArn".to_string(), "nope".to_string()),
            ("RoleSessionName".to_string(), "s1".to_string()),
        ]);
        assert_eq!(
            assume_role(&mut state, &params, 0, "r").unwrap_err().code,
            "ValidationError"
        );
    }
}
