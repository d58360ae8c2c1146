//! HTTP admin API under `/_emulator/`: the control API as JSON, for suites
//! that run the emulator as a separate process (boto3, the AWS CLI).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::control::{Control, LaunchApp, ResourceRef, Shared};
use crate::error::ApiError;
use crate::faults::{FaultRule, RateLimit};
use crate::state::{Scope, Tag, UpdateMerge, merge_patch};
use crate::sts::RoleTrust;

type Shr = State<Arc<Shared>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/date-skew", get(date_skew).post(set_date_skew))
        .route("/delays", get(delays).post(set_delays))
        .route("/update-merge", get(update_merge).post(set_update_merge))
        .route("/quotas", get(quotas).post(set_quotas))
        .route("/latency", post(latency))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/rate-limits", post(add_rate_limit).delete(clear_rate_limits))
        .route("/seed", post(seed))
        .route("/calls", get(calls).delete(clear_calls))
        .route("/calls/counts", get(call_counts))
        .route("/apps/launch", post(launch_app))
        .route("/apps/activity", post(app_activity))
        .route("/tags", post(set_tags))
        .route("/patch", post(patch))
        .route("/delete", post(delete))
        .route("/kms/aws-managed-key", post(aws_managed_key))
        .route(
            "/sts/trust",
            get(role_trusts).post(set_role_trust).delete(clear_role_trusts),
        )
        .route("/state", get(snapshot))
        .route("/domains", get(domains))
        .route("/efs", get(efs))
        .route("/ebs", get(ebs))
        .route("/s3/buckets", post(s3_create_bucket))
        .route("/s3/objects", get(s3_objects).post(s3_put_object))
        .route("/s3/deny-delete", post(s3_deny_delete))
}

fn control(shared: Arc<Shared>) -> Control {
    Control { shared }
}

fn fail(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({"__type": err.code, "message": err.message}))).into_response()
}

fn answer(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => fail(&e),
    }
}

/// Parses a JSON body leniently (an empty body reads as `{}`).
fn parse<T: DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    let text = if body.trim().is_empty() { "{}" } else { body };
    serde_json::from_str(text).map_err(|e| ApiError::validation(format!("invalid admin request: {e}")))
}

/// `account`/`region` members of an admin request; default account and us-east-1.
#[derive(Deserialize)]
struct ScopeArg {
    account: Option<String>,
    region: Option<String>,
}

impl ScopeArg {
    fn scope(&self, shared: &Shared) -> Scope {
        Scope::new(
            self.account
                .clone()
                .unwrap_or_else(|| shared.config.default_account.clone()),
            self.region.clone().unwrap_or_else(|| "us-east-1".into()),
        )
    }
}

async fn reset(State(s): Shr) -> Response {
    control(s).reset();
    Json(json!({})).into_response()
}

async fn clock(State(s): Shr) -> Response {
    Json(json!({"now": control(s).now()})).into_response()
}

async fn advance(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        seconds: f64,
    }
    answer(parse::<Req>(&body).map(|r| {
        let c = control(s);
        c.advance(r.seconds);
        json!({"now": c.now()})
    }))
}

async fn date_skew(State(s): Shr) -> Response {
    Json(json!({"seconds": control(s).date_skew()})).into_response()
}

async fn set_date_skew(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        seconds: f64,
    }
    answer(parse::<Req>(&body).map(|r| {
        let c = control(s);
        c.set_date_skew(r.seconds);
        json!({"seconds": c.date_skew()})
    }))
}

/// Merges the request into the current value, so partial updates keep the rest.
fn merged<T: serde::Serialize + DeserializeOwned>(current: &T, body: &str) -> Result<T, ApiError> {
    let mut value = serde_json::to_value(current).unwrap_or(Value::Null);
    merge_patch(&mut value, &parse::<Value>(body)?);
    serde_json::from_value(value).map_err(|e| ApiError::validation(format!("invalid admin request: {e}")))
}

async fn update_merge(State(s): Shr) -> Response {
    Json(json!({"mode": control(s).update_merge()})).into_response()
}

async fn set_update_merge(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        mode: UpdateMerge,
    }
    answer(parse::<Req>(&body).map(|r| {
        control(s).set_update_merge(r.mode);
        json!({"mode": r.mode})
    }))
}

async fn delays(State(s): Shr) -> Response {
    Json(control(s).delays()).into_response()
}

async fn set_delays(State(s): Shr, body: String) -> Response {
    let c = control(s);
    answer(merged(&c.delays(), &body).map(|d| {
        c.set_delays(d.clone());
        json!(d)
    }))
}

async fn quotas(State(s): Shr) -> Response {
    Json(control(s).quotas()).into_response()
}

async fn set_quotas(State(s): Shr, body: String) -> Response {
    let c = control(s);
    answer(merged(&c.quotas(), &body).map(|q| {
        c.set_quotas(q.clone());
        json!(q)
    }))
}

async fn latency(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        target: String,
        ms: u64,
    }
    answer(parse::<Req>(&body).map(|r| {
        control(s).set_latency(&r.target, r.ms);
        json!({})
    }))
}

async fn faults(State(s): Shr) -> Response {
    Json(s.faults().describe()).into_response()
}

async fn add_fault(State(s): Shr, body: String) -> Response {
    answer(parse::<FaultRule>(&body).map(|r| {
        control(s).inject_fault(r);
        json!({})
    }))
}

async fn clear_faults(State(s): Shr) -> Response {
    control(s).clear_faults();
    Json(json!({})).into_response()
}

async fn add_rate_limit(State(s): Shr, body: String) -> Response {
    answer(parse::<RateLimit>(&body).map(|r| {
        control(s).add_rate_limit(r);
        json!({})
    }))
}

async fn clear_rate_limits(State(s): Shr) -> Response {
    control(s).clear_rate_limits();
    Json(json!({})).into_response()
}

async fn seed(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        seed: u64,
    }
    answer(parse::<Req>(&body).map(|r| {
        control(s).set_seed(r.seed);
        json!({})
    }))
}

async fn calls(State(s): Shr) -> Response {
    Json(control(s).calls()).into_response()
}

async fn call_counts(State(s): Shr) -> Response {
    Json(control(s).call_counts()).into_response()
}

async fn clear_calls(State(s): Shr) -> Response {
    control(s).clear_calls();
    Json(json!({})).into_response()
}

async fn launch_app(State(s): Shr, body: String) -> Response {
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let req: LaunchApp = parse(&body)?;
        let arn = control(s.clone()).launch_app(&scope, &req)?;
        Ok(json!({"AppArn": arn}))
    };
    answer(run())
}

async fn app_activity(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        app: ResourceRef,
        last_health_check: Option<f64>,
        last_user_activity: Option<f64>,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        control(s.clone()).set_app_activity(&scope, &r.app, r.last_health_check, r.last_user_activity)?;
        Ok(json!({}))
    };
    answer(run())
}

async fn set_tags(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        arn: String,
        tags: Vec<Tag>,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        control(s.clone()).set_tags(&scope, &r.arn, r.tags)?;
        Ok(json!({}))
    };
    answer(run())
}

async fn patch(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        resource: ResourceRef,
        patch: Value,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        control(s.clone()).patch(&scope, &r.resource, &r.patch)?;
        Ok(json!({}))
    };
    answer(run())
}

async fn delete(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        resource: ResourceRef,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        control(s.clone()).delete(&scope, &r.resource)?;
        Ok(json!({}))
    };
    answer(run())
}

async fn aws_managed_key(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        alias: String,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        if !r.alias.starts_with("alias/aws/") {
            return Err(ApiError::validation("AWS-managed key aliases start with alias/aws/"));
        }
        Ok(json!({"KeyMetadata": control(s.clone()).create_aws_managed_key(&scope, &r.alias)}))
    };
    answer(run())
}

async fn role_trusts(State(s): Shr) -> Response {
    Json(control(s).role_trusts()).into_response()
}

async fn set_role_trust(State(s): Shr, body: String) -> Response {
    answer(parse::<RoleTrust>(&body).and_then(|t| control(s).set_role_trust(t).map(|()| json!({}))))
}

async fn clear_role_trusts(State(s): Shr) -> Response {
    control(s).clear_role_trusts();
    Json(json!({})).into_response()
}

async fn snapshot(State(s): Shr) -> Response {
    Json(control(s).snapshot()).into_response()
}

async fn domains(State(s): Shr) -> Response {
    Json(control(s).domains()).into_response()
}

async fn efs(State(s): Shr) -> Response {
    Json(control(s).efs_file_systems()).into_response()
}

async fn ebs(State(s): Shr) -> Response {
    Json(control(s).ebs_volumes()).into_response()
}

async fn s3_create_bucket(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        bucket: String,
    }
    let run = || -> Result<Value, ApiError> {
        let scope = parse::<ScopeArg>(&body)?.scope(&s);
        let r: Req = parse(&body)?;
        control(s.clone()).s3_create_bucket(&scope, &r.bucket)?;
        Ok(json!({}))
    };
    answer(run())
}

/// `GET /_emulator/s3/objects?bucket=B&prefix=P`.
async fn s3_objects(State(s): Shr, RawQuery(query): RawQuery) -> Response {
    let params: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let run = || -> Result<Value, ApiError> {
        let bucket = params
            .get("bucket")
            .ok_or_else(|| ApiError::validation("the query parameter bucket is required"))?;
        let prefix = params.get("prefix").map(String::as_str).unwrap_or_default();
        Ok(json!(control(s.clone()).s3_objects(bucket, prefix)?))
    };
    answer(run())
}

async fn s3_put_object(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        bucket: String,
        key: String,
        #[serde(default)]
        body: String,
    }
    answer(parse::<Req>(&body).and_then(|r| control(s).s3_put_object(&r.bucket, &r.key, r.body).map(|()| json!({}))))
}

async fn s3_deny_delete(State(s): Shr, body: String) -> Response {
    #[derive(Deserialize)]
    struct Req {
        bucket: String,
        prefix: String,
    }
    answer(parse::<Req>(&body).and_then(|r| control(s).s3_deny_delete(&r.bucket, &r.prefix).map(|()| json!({}))))
}
