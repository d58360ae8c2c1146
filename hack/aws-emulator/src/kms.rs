//! KMS (`TrentService`): keys and aliases, enough for a client to validate a
//! domain's encryption key and for domains to fail asynchronously on bad keys.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::{Millis, secs_to_ms};
use crate::error::{ApiError, ApiResult};
use crate::state::tags::Tag;
use crate::state::{Scope, State, ts};
use crate::validate::{Input, check_len, check_range};

/// Key lifecycle states used by the emulator (a subset of the KeyState enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub arn: String,
    pub account: String,
    pub description: String,
    pub key_spec: String,
    pub key_usage: String,
    pub origin: String,
    /// `CUSTOMER` or `AWS`.
    pub manager: String,
    pub state: KeyState,
    pub created: Millis,
    pub deletion_date: Option<Millis>,
    pub tags: Vec<Tag>,
}

impl Key {
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "AWSAccountId": self.account,
            "KeyId": self.id,
            "Arn": self.arn,
            "CreationDate": ts(self.created),
            "Enabled": self.state == KeyState::Enabled,
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": self.state,
            "Origin": self.origin,
            "KeyManager": self.manager,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "MultiRegion": false,
        });
        if let Some(d) = self.deletion_date {
            m["DeletionDate"] = ts(d);
        }
        match self.key_usage.as_str() {
            "ENCRYPT_DECRYPT" if self.key_spec == "SYMMETRIC_DEFAULT" => {
                m["EncryptionAlgorithms"] = json!(["SYMMETRIC_DEFAULT"]);
            }
            "ENCRYPT_DECRYPT" => m["EncryptionAlgorithms"] = json!(["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
            "SIGN_VERIFY" if self.key_spec.starts_with("RSA") => {
                m["SigningAlgorithms"] = json!([
                    "RSASSA_PSS_SHA_256",
                    "RSASSA_PSS_SHA_384",
                    "RSASSA_PSS_SHA_512",
                    "RSASSA_PKCS1_V1_5_SHA_256",
                    "RSASSA_PKCS1_V1_5_SHA_384",
                    "RSASSA_PKCS1_V1_5_SHA_512"
                ]);
            }
            "SIGN_VERIFY" => m["SigningAlgorithms"] = json!(["ECDSA_SHA_256"]),
            _ => {}
        }
        m
    }
}

#[derive(Debug, Clone)]
pub struct Alias {
    pub name: String,
    pub arn: String,
    pub target: String,
    pub created: Millis,
    /// When UpdateAlias last pointed it at a key (LastUpdatedDate).
    pub updated: Millis,
}

/// Keys and aliases of one account and region.
#[derive(Debug, Default)]
pub struct KmsPartition {
    pub keys: Vec<Key>,
    pub aliases: Vec<Alias>,
}

impl KmsPartition {
    /// Keys whose deletion date has passed disappear with their aliases.
    pub fn tick(&mut self, now: Millis) {
        let gone: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.deletion_date.is_some_and(|d| d <= now))
            .map(|k| k.id.clone())
            .collect();
        self.keys.retain(|k| !gone.contains(&k.id));
        self.aliases.retain(|a| !gone.contains(&a.target));
    }

    pub fn snapshot(&self) -> Value {
        self.keys
            .iter()
            .map(|k| {
                let mut m = k.metadata();
                m["Aliases"] = self
                    .aliases
                    .iter()
                    .filter(|a| a.target == k.id)
                    .map(|a| json!(a.name))
                    .collect();
                m
            })
            .collect()
    }
}

/// Where a key reference points: the partition and either a key id or an alias name.
enum KeyRef {
    Id(Scope, String),
    Alias(Scope, String),
}

/// Parses key id, key ARN, `alias/x` or alias ARN relative to the caller's scope.
fn parse_ref(scope: &Scope, key: &str) -> ApiResult<KeyRef> {
    if let Some(rest) = key.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let invalid = || ApiError::new(400, "InvalidArnException", format!("Invalid arn {key}"));
        if parts.len() != 5 || !parts[0].starts_with("aws") || parts[1] != "kms" || parts[3].len() != 12 {
            return Err(invalid());
        }
        let target = Scope::new(parts[3], parts[2]);
        return match parts[4].split_once('/') {
            Some(("key", id)) if !id.is_empty() => Ok(KeyRef::Id(target, id.into())),
            Some(("alias", _)) => Ok(KeyRef::Alias(target, parts[4].into())),
            _ => Err(invalid()),
        };
    }
    if key.starts_with("alias/") {
        Ok(KeyRef::Alias(scope.clone(), key.into()))
    } else {
        Ok(KeyRef::Id(scope.clone(), key.into()))
    }
}

fn alias_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:kms:{}:{}:{name}", scope.region, scope.account)
}

/// Resolves a reference to (scope, key index) or NotFoundException.
fn resolve(kms: &BTreeMap<Scope, KmsPartition>, scope: &Scope, key: &str) -> ApiResult<(Scope, usize)> {
    let (target, id) = match parse_ref(scope, key)? {
        KeyRef::Id(target, id) => (target, id),
        KeyRef::Alias(target, alias) => {
            let id = kms
                .get(&target)
                .and_then(|p| p.aliases.iter().find(|a| a.name == alias))
                .map(|a| a.target.clone())
                .ok_or_else(|| not_found_alias(&target, &alias))?;
            (target, id)
        }
    };
    kms.get(&target)
        .and_then(|p| p.keys.iter().position(|k| k.id == id))
        .map(|i| (target.clone(), i))
        .ok_or_else(|| {
            ApiError::new(
                400,
                "NotFoundException",
                format!(
                    "Key 'arn:aws:kms:{}:{}:key/{id}' does not exist",
                    target.region, target.account
                ),
            )
        })
}

/// Why a domain could not use this key for its EFS volume, in FailureReason words.
pub fn usability_problem(kms: &BTreeMap<Scope, KmsPartition>, scope: &Scope, key: &str) -> Option<&'static str> {
    let Ok((target, i)) = resolve(kms, scope, key) else {
        return Some("does not exist");
    };
    let k = &kms[&target].keys[i];
    match k.state {
        KeyState::Disabled => Some("is disabled"),
        KeyState::PendingDeletion => Some("is pending deletion"),
        KeyState::PendingImport => Some("is pending import"),
        KeyState::Enabled if k.key_spec != "SYMMETRIC_DEFAULT" || k.key_usage != "ENCRYPT_DECRYPT" => {
            Some("is not a symmetric encryption key")
        }
        KeyState::Enabled => None,
    }
}

fn key_id_input<'a>(input: &Input<'a>) -> ApiResult<&'a str> {
    let key = input.str_req("KeyId")?;
    check_len("keyId", key, 1, 2048)?;
    Ok(key)
}

/// Properties of a new key.
pub struct NewKey<'a> {
    pub spec: &'a str,
    pub usage: &'a str,
    pub origin: &'a str,
    /// `CUSTOMER` or `AWS`.
    pub manager: &'a str,
    pub description: &'a str,
    pub tags: Vec<Tag>,
}

impl NewKey<'_> {
    /// A symmetric encryption key managed by the given party.
    pub fn symmetric(manager: &str) -> NewKey<'_> {
        NewKey {
            spec: "SYMMETRIC_DEFAULT",
            usage: "ENCRYPT_DECRYPT",
            origin: "AWS_KMS",
            manager,
            description: "",
            tags: Vec::new(),
        }
    }
}

/// Creates a key in `scope`; shared by CreateKey and the control API (AWS-managed keys).
pub fn insert_key(state: &mut State, scope: &Scope, now: Millis, new: NewKey<'_>) -> Key {
    let NewKey {
        spec,
        usage,
        origin,
        manager,
        description,
        tags,
    } = new;
    let id = state.random_uuid();
    let key = Key {
        arn: format!("arn:aws:kms:{}:{}:key/{id}", scope.region, scope.account),
        id,
        account: scope.account.clone(),
        description: description.into(),
        key_spec: spec.into(),
        key_usage: usage.into(),
        origin: origin.into(),
        manager: manager.into(),
        state: if origin == "EXTERNAL" {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        },
        created: now,
        deletion_date: None,
        tags,
    };
    state.kms.entry(scope.clone()).or_default().keys.push(key.clone());
    key
}

/// Creates (or returns) the AWS-managed key behind `alias/aws/<service>`.
pub fn aws_managed_key(state: &mut State, scope: &Scope, now: Millis, alias: &str) -> Key {
    if let Ok((target, i)) = resolve(&state.kms, scope, alias) {
        return state.kms[&target].keys[i].clone();
    }
    let description = format!(
        "Default key that protects my {} data when no other key is defined",
        alias.trim_start_matches("alias/aws/")
    );
    let key = insert_key(
        state,
        scope,
        now,
        NewKey {
            description: &description,
            ..NewKey::symmetric("AWS")
        },
    );
    state.kms.entry(scope.clone()).or_default().aliases.push(Alias {
        name: alias.into(),
        arn: alias_arn(scope, alias),
        target: key.id.clone(),
        created: now,
        updated: now,
    });
    key
}

fn valid_key_combination(spec: &str, usage: &str) -> bool {
    match spec {
        "SYMMETRIC_DEFAULT" => usage == "ENCRYPT_DECRYPT",
        s if s.starts_with("RSA_") => matches!(usage, "ENCRYPT_DECRYPT" | "SIGN_VERIFY"),
        s if s.starts_with("ECC_") => usage == "SIGN_VERIFY",
        s if s.starts_with("HMAC_") => usage == "GENERATE_VERIFY_MAC",
        _ => false,
    }
}

const KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
];

pub fn create_key(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let spec = input
        .enum_opt("KeySpec", KEY_SPECS)?
        .or(input.enum_opt("CustomerMasterKeySpec", KEY_SPECS)?)
        .unwrap_or("SYMMETRIC_DEFAULT");
    let usage = input
        .enum_opt("KeyUsage", &["SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC"])?
        .unwrap_or(if spec.starts_with("HMAC_") {
            "GENERATE_VERIFY_MAC"
        } else if spec.starts_with("ECC_") {
            "SIGN_VERIFY"
        } else {
            "ENCRYPT_DECRYPT"
        });
    if !valid_key_combination(spec, usage) {
        return Err(ApiError::validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        )));
    }
    let origin = input
        .enum_opt("Origin", &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])?
        .unwrap_or("AWS_KMS");
    if !matches!(origin, "AWS_KMS" | "EXTERNAL") {
        return Err(ApiError::validation(format!(
            "Origin {origin} is not supported by the emulator"
        )));
    }
    if input.bool_opt("MultiRegion")? == Some(true) {
        return Err(ApiError::validation(
            "Multi-Region keys are not supported by the emulator",
        ));
    }
    let description = input.str_opt("Description")?.unwrap_or("");
    check_len("description", description, 0, 8192)?;
    let tags = match input.arr_opt("Tags")? {
        Some(items) => items
            .iter()
            .map(|t| {
                let key = t.get("TagKey").and_then(Value::as_str);
                let value = t.get("TagValue").and_then(Value::as_str);
                match (key, value) {
                    (Some(k), Some(v)) => Ok(Tag {
                        key: k.into(),
                        value: v.into(),
                    }),
                    _ => Err(ApiError::validation("Tags must have TagKey and TagValue")),
                }
            })
            .collect::<ApiResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    let new = NewKey {
        spec,
        usage,
        origin,
        manager: "CUSTOMER",
        description,
        tags,
    };
    let key = insert_key(state, scope, now, new);
    Ok(json!({ "KeyMetadata": key.metadata() }))
}

pub fn describe_key(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let key = key_id_input(&input)?;
    // Describing a predefined AWS alias creates its AWS-managed key, as KMS does.
    if key.starts_with("alias/aws/") && resolve(&state.kms, scope, key).is_err() {
        return Ok(json!({ "KeyMetadata": aws_managed_key(state, scope, now, key).metadata() }));
    }
    let (target, i) = resolve(&state.kms, scope, key)?;
    Ok(json!({ "KeyMetadata": state.kms[&target].keys[i].metadata() }))
}

/// Resolves for a state change; refuses AWS-managed and cross-account changes.
fn mutable_key<'a>(state: &'a mut State, scope: &Scope, key: &str) -> ApiResult<&'a mut Key> {
    let (target, i) = resolve(&state.kms, scope, key)?;
    let k = &mut state.kms.get_mut(&target).expect("resolved").keys[i];
    if k.manager == "AWS" || target.account != scope.account {
        return Err(ApiError::new(
            400,
            "AccessDeniedException",
            format!("You cannot modify key {}", k.arn),
        ));
    }
    Ok(k)
}

fn invalid_state(k: &Key) -> ApiError {
    ApiError::new(
        400,
        "KMSInvalidStateException",
        format!("{} is pending deletion.", k.arn),
    )
}

pub fn enable_key(state: &mut State, scope: &Scope, enable: bool, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let key = key_id_input(&input)?;
    let k = mutable_key(state, scope, key)?;
    match k.state {
        KeyState::PendingDeletion => Err(invalid_state(k)),
        KeyState::PendingImport => Err(ApiError::new(
            400,
            "KMSInvalidStateException",
            format!("{} is pending import.", k.arn),
        )),
        _ => {
            k.state = if enable { KeyState::Enabled } else { KeyState::Disabled };
            Ok(json!({}))
        }
    }
}

pub fn schedule_key_deletion(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let key = key_id_input(&input)?;
    let days = input.i64_opt("PendingWindowInDays")?.unwrap_or(30);
    check_range("pendingWindowInDays", days, 7, 30)?;
    let k = mutable_key(state, scope, key)?;
    if k.state == KeyState::PendingDeletion {
        return Err(invalid_state(k));
    }
    let date = now + secs_to_ms(days as f64 * 86_400.0);
    k.state = KeyState::PendingDeletion;
    k.deletion_date = Some(date);
    Ok(json!({
        "KeyId": k.arn,
        "DeletionDate": ts(date),
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": days,
    }))
}

/// `Limit` (1–1000, default 100) and `Marker` paging used by KMS list operations.
fn kms_page(input: &Input<'_>, op: &str, items: Vec<Value>, member: &str) -> ApiResult<Value> {
    let limit = input.i64_opt("Limit")?.unwrap_or(100);
    check_range("limit", limit, 1, 1000)?;
    let offset = match input.str_opt("Marker")? {
        Some(m) => crate::pagination::decode_token(op, m)?,
        None => 0,
    };
    let page = crate::pagination::PageRequest {
        offset,
        limit: limit as usize,
    };
    let (items, next) = crate::pagination::paginate(items, op, page);
    let mut out = json!({ member: items, "Truncated": next.is_some() });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    Ok(out)
}

pub fn list_keys(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let items = state
        .kms
        .get(scope)
        .map(|p| p.keys.iter().map(|k| json!({"KeyId": k.id, "KeyArn": k.arn})).collect())
        .unwrap_or_default();
    kms_page(&input, "ListKeys", items, "Keys")
}

pub fn list_aliases(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let filter = match input.str_opt("KeyId")? {
        Some(k) => {
            let (target, i) = resolve(&state.kms, scope, k)?;
            Some(state.kms[&target].keys[i].id.clone())
        }
        None => None,
    };
    let items = state
        .kms
        .get(scope)
        .map(|p| {
            p.aliases
                .iter()
                .filter(|a| filter.as_ref().is_none_or(|f| &a.target == f))
                .map(|a| {
                    json!({
                        "AliasName": a.name,
                        "AliasArn": a.arn,
                        "TargetKeyId": a.target,
                        "CreationDate": ts(a.created),
                        "LastUpdatedDate": ts(a.updated),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    kms_page(&input, "ListAliases", items, "Aliases")
}

/// Checks an `AliasName` the way CreateAlias, UpdateAlias and DeleteAlias do: the model's
/// pattern, the `alias/` prefix, and the `alias/aws/` prefix reserved for AWS managed keys.
fn check_alias_name(name: &str) -> ApiResult<()> {
    check_len("aliasName", name, 1, 256)?;
    let valid = name
        .strip_prefix("alias/")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c)));
    if !valid {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$"
        )));
    }
    if name.starts_with("alias/aws/") {
        return Err(ApiError::validation(
            "Aliases that begin with alias/aws/ are reserved for AWS managed keys.",
        ));
    }
    Ok(())
}

/// Resolves `TargetKeyId` of CreateAlias/UpdateAlias: a key id or key ARN (never an alias) of
/// a key in the caller's account and region that is not pending deletion. Returns its index.
fn alias_target(state: &State, scope: &Scope, input: &Input<'_>) -> ApiResult<usize> {
    let target = input.str_req("TargetKeyId")?;
    check_len("targetKeyId", target, 1, 2048)?;
    if target.starts_with("alias/") || target.contains(":alias/") {
        return Err(ApiError::validation(
            "TargetKeyId must be a key ID or key ARN, not an alias.",
        ));
    }
    let (target_scope, i) = resolve(&state.kms, scope, target)?;
    if target_scope != *scope {
        return Err(ApiError::validation(
            "An alias must be in the same account and region as its key.",
        ));
    }
    let key = &state.kms[scope].keys[i];
    if key.state == KeyState::PendingDeletion {
        return Err(invalid_state(key));
    }
    Ok(i)
}

/// The key class UpdateAlias keeps: symmetric encryption, asymmetric, or HMAC, and the usage.
fn key_class(key: &Key) -> (&'static str, &str) {
    let class = match key.key_spec.as_str() {
        "SYMMETRIC_DEFAULT" => "symmetric",
        s if s.starts_with("HMAC_") => "HMAC",
        _ => "asymmetric",
    };
    (class, &key.key_usage)
}

pub fn create_alias(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("AliasName")?;
    check_alias_name(name)?;
    let i = alias_target(state, scope, &input)?;
    let key_id = state.kms[scope].keys[i].id.clone();
    let part = state.kms.entry(scope.clone()).or_default();
    let arn = alias_arn(scope, name);
    if part.aliases.iter().any(|a| a.name == name) {
        return Err(ApiError::new(
            400,
            "AlreadyExistsException",
            format!("An alias with the name {arn} already exists"),
        ));
    }
    part.aliases.push(Alias {
        name: name.into(),
        arn,
        target: key_id,
        created: now,
        updated: now,
    });
    Ok(json!({}))
}

/// Points an existing alias at another customer managed key of the same account and region,
/// of the same key class and usage as its current key.
pub fn update_alias(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("AliasName")?;
    check_alias_name(name)?;
    let i = alias_target(state, scope, &input)?;
    let part = state.kms.get(scope);
    let alias = part
        .and_then(|p| p.aliases.iter().find(|a| a.name == name))
        .ok_or_else(|| not_found_alias(scope, name))?;
    let keys = &state.kms[scope].keys;
    let new_key = &keys[i];
    if new_key.manager == "AWS" {
        return Err(ApiError::validation(format!(
            "An alias cannot be associated with the AWS managed key {}.",
            new_key.arn
        )));
    }
    if let Some(current) = keys.iter().find(|k| k.id == alias.target)
        && key_class(current) != key_class(new_key)
    {
        return Err(ApiError::validation(format!(
            "Alias {name} cannot be moved from key {} to key {}: both keys must be {} {} keys.",
            current.arn,
            new_key.arn,
            key_class(current).0,
            key_class(current).1
        )));
    }
    let new_id = new_key.id.clone();
    let alias = state
        .kms
        .get_mut(scope)
        .and_then(|p| p.aliases.iter_mut().find(|a| a.name == name))
        .expect("alias found above");
    alias.target = new_id;
    alias.updated = now;
    Ok(json!({}))
}

pub fn delete_alias(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("AliasName")?;
    check_alias_name(name)?;
    let part = state.kms.get_mut(scope).ok_or_else(|| not_found_alias(scope, name))?;
    let before = part.aliases.len();
    part.aliases.retain(|a| a.name != name);
    if part.aliases.len() == before {
        return Err(not_found_alias(scope, name));
    }
    Ok(json!({}))
}

fn not_found_alias(scope: &Scope, name: &str) -> ApiError {
    ApiError::new(
        400,
        "NotFoundException",
        format!("Alias {} is not found.", alias_arn(scope, name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_reference_form_resolves() {
        let mut state = State::new(&Config::default());
        let scope = Scope::default();
        let key = insert_key(&mut state, &scope, 0, NewKey::symmetric("CUSTOMER"));
        create_alias(
            &mut state,
            &scope,
            0,
            &json!({"AliasName": "alias/x", "TargetKeyId": key.id}),
        )
        .unwrap();
        for r in [
            key.id.clone(),
            key.arn.clone(),
            "alias/x".into(),
            alias_arn(&scope, "alias/x"),
        ] {
            assert!(resolve(&state.kms, &scope, &r).is_ok(), "{r}");
        }
        let err = resolve(&state.kms, &scope, "arn:aws:kms:bad").err().unwrap();
        assert_eq!(err.code, "InvalidArnException");
        let err = resolve(&state.kms, &scope, "alias/none").err().unwrap();
        assert_eq!(err.code, "NotFoundException");
    }

    #[test]
    fn usability() {
        let mut state = State::new(&Config::default());
        let scope = Scope::default();
        let key = insert_key(&mut state, &scope, 0, NewKey::symmetric("CUSTOMER"));
        assert_eq!(usability_problem(&state.kms, &scope, &key.id), None);
        enable_key(&mut state, &scope, false, &json!({"KeyId": key.id})).unwrap();
        assert_eq!(usability_problem(&state.kms, &scope, &key.id), Some("is disabled"));
        assert_eq!(usability_problem(&state.kms, &scope, "nope"), Some("does not exist"));
        schedule_key_deletion(
            &mut state,
            &scope,
            0,
            &json!({"KeyId": key.id, "PendingWindowInDays": 7}),
        )
        .unwrap();
        assert_eq!(
            usability_problem(&state.kms, &scope, &key.id),
            Some("is pending deletion")
        );
        state.tick(7 * 86_400_000);
        assert_eq!(usability_problem(&state.kms, &scope, &key.id), Some("does not exist"));
    }

    #[test]
    fn aliases_move_between_keys_of_the_same_class() {
        let mut state = State::new(&Config::default());
        let scope = Scope::default();
        let first = insert_key(&mut state, &scope, 0, NewKey::symmetric("CUSTOMER"));
        let second = insert_key(&mut state, &scope, 0, NewKey::symmetric("CUSTOMER"));
        let rsa = insert_key(
            &mut state,
            &scope,
            0,
            NewKey {
                spec: "RSA_2048",
                usage: "SIGN_VERIFY",
                ..NewKey::symmetric("CUSTOMER")
            },
        );
        let alias = |target: &str| json!({"AliasName": "alias/studio", "TargetKeyId": target});
        let err = update_alias(&mut state, &scope, 5, &alias(&first.id)).unwrap_err();
        assert_eq!(err.code, "NotFoundException");
        create_alias(&mut state, &scope, 1, &alias(&first.id)).unwrap();
        update_alias(&mut state, &scope, 5, &alias(&second.arn)).unwrap();
        assert_eq!(resolve(&state.kms, &scope, "alias/studio").unwrap().1, 1);
        assert_eq!(state.kms[&scope].aliases[0].updated, 5);
        let err = update_alias(&mut state, &scope, 6, &alias(&rsa.id)).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let managed = aws_managed_key(&mut state, &scope, 0, "alias/aws/sagemaker");
        assert_eq!(
            update_alias(&mut state, &scope, 6, &alias(&managed.id))
                .unwrap_err()
                .code,
            "ValidationException"
        );
        let reserved = json!({"AliasName": "alias/aws/sagemaker", "TargetKeyId": first.id});
        assert_eq!(
            update_alias(&mut state, &scope, 6, &reserved).unwrap_err().code,
            "ValidationException"
        );
        delete_alias(&mut state, &scope, &json!({"AliasName": "alias/studio"})).unwrap();
        assert!(resolve(&state.kms, &scope, "alias/studio").is_err());
        let err = delete_alias(&mut state, &scope, &json!({"AliasName": "alias/studio"})).unwrap_err();
        assert_eq!(err.code, "NotFoundException");
    }

    #[test]
    fn key_spec_and_usage_combinations() {
        assert!(valid_key_combination("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"));
        assert!(!valid_key_combination("SYMMETRIC_DEFAULT", "SIGN_VERIFY"));
        assert!(valid_key_combination("RSA_2048", "SIGN_VERIFY"));
        assert!(!valid_key_combination("ECC_NIST_P256", "ENCRYPT_DECRYPT"));
    }
}
