//! HTTP front end: accepts connections, routes `/_emulator/` to the admin API
//! and everything else through auth, faults and the service handlers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, Response, Uri, header};
use axum::{Extension, routing::any};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::calllog::{CallRecord, KEY_MEMBERS};
use crate::clock::to_epoch_secs;
use crate::control::Shared;
use crate::error::ApiError;
use crate::faults::Action;
use crate::protocol::{self, Service};
use crate::s3::{self, S3Error};
use crate::{api, sts};

/// The largest request body: S3's limit for one PutObject or UploadPart (5 GiB), as objects are
/// request bodies; the other services' requests are far smaller.
const MAX_BODY_BYTES: usize = 5 << 30;

/// Lets a handler close its connection without answering (dropped-connection faults).
#[derive(Clone)]
pub(crate) struct DropSignal(Arc<Notify>);

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .nest("/_emulator", crate::admin::routes())
        .route("/", any(handle_api))
        .fallback(handle_api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response_with_state(shared.clone(), date_header))
        .with_state(shared)
}

/// Every answer (admin API included) carries the emulated time, possibly skewed, in `Date`;
/// hyper keeps a `Date` header that is already set.
async fn date_header(AxumState(shared): AxumState<Arc<Shared>>, mut response: Response<Body>) -> Response<Body> {
    if let Ok(date) = HeaderValue::from_str(&shared.date_header()) {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// Serves connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, app: Router) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let signal = DropSignal(Arc::new(Notify::new()));
        let svc = TowerToHyperService::new(app.clone().layer(Extension(signal.clone())));
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = signal.0.notified() => {}
            }
        });
    }
}

/// Who is calling, resolved from the credential scope.
struct Caller {
    account: String,
    region: String,
    identity: crate::state::Identity,
}

fn record(shared: &Shared, service: &str, operation: &str, outcome: &str, caller: Option<&Caller>, members: Value) {
    shared.calls().push(CallRecord {
        seq: 0,
        service: service.into(),
        operation: operation.into(),
        outcome: outcome.into(),
        timestamp: to_epoch_secs(shared.clock.now()),
        account: caller.map(|c| c.account.clone()).unwrap_or_default(),
        region: caller.map(|c| c.region.clone()).unwrap_or_default(),
        members,
        principal: caller.map(|c| c.identity.arn.clone()).unwrap_or_default(),
        session_tags: caller.map(|c| c.identity.session_tags.clone()).unwrap_or_default(),
    });
}

fn key_members(lookup: impl Fn(&str) -> Option<Value>) -> Value {
    let mut out = Map::new();
    for m in KEY_MEMBERS {
        if let Some(v) = lookup(m) {
            out.insert((*m).into(), v);
        }
    }
    Value::Object(out)
}

fn caller(shared: &Shared, headers: &HeaderMap, service: Service) -> Result<Caller, ApiError> {
    let scope = protocol::parse_authorization(headers, service)?;
    let identity = shared.state().0.identity(&scope.access_key);
    Ok(Caller {
        account: identity.account.clone(),
        region: scope.region,
        identity,
    })
}

/// Applies latency and faults; `Err` carries the answer to send instead.
async fn gate(shared: &Shared, signal: &DropSignal, service: &str, op: &str) -> Result<(), Option<ApiError>> {
    let decision = shared.faults().decide(service, op);
    if decision.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
    }
    match decision.action {
        Action::Proceed => Ok(()),
        Action::Fail(e) => Err(Some(e)),
        Action::Drop => {
            signal.0.notify_one();
            Err(None)
        }
    }
}

async fn handle_api(
    AxumState(shared): AxumState<Arc<Shared>>,
    Extension(signal): Extension<DropSignal>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let request_id = shared.request_id();
    if protocol::credential_service(&headers) == Some(Service::S3.signing_name()) {
        let request = s3::Request::parse(&method, &uri, &headers, body);
        return handle_s3(&shared, &signal, &headers, request, method == Method::HEAD, &request_id).await;
    }
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return handle_json(&shared, &signal, &headers, target, &body, &request_id).await;
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if form {
        return handle_sts(&shared, &signal, &headers, &body, &request_id).await;
    }
    protocol::json_error(
        &ApiError::unknown_operation("(no X-Amz-Target header and no form body)"),
        &request_id,
    )
}

async fn handle_json(
    shared: &Shared,
    signal: &DropSignal,
    headers: &HeaderMap,
    target: &str,
    body: &Bytes,
    request_id: &str,
) -> Response<Body> {
    let (service, op) = match protocol::parse_target(target) {
        Ok(t) => t,
        Err(e) => return protocol::json_error(&e, request_id),
    };
    let service_name = service.signing_name();
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                let err = ApiError::serialization(format!("Invalid JSON body: {e}"));
                record(shared, service_name, op, &err.code, None, Value::Null);
                return protocol::json_error(&err, request_id);
            }
        }
    };
    let members = key_members(|m| input.get(m).cloned());
    let who = match caller(shared, headers, service) {
        Ok(c) => c,
        Err(e) => {
            record(shared, service_name, op, &e.code, None, members);
            return protocol::json_error(&e, request_id);
        }
    };
    if let Err(fault) = gate(shared, signal, service_name, op).await {
        // The Tagging API names its throttling code ThrottledException.
        let fault = fault.map(|e| match service {
            Service::Tagging if e.code == "ThrottlingException" => ApiError::new(400, "ThrottledException", e.message),
            _ => e,
        });
        let outcome = fault.as_ref().map_or("dropped", |e| e.code.as_str());
        record(shared, service_name, op, outcome, Some(&who), members);
        return match fault {
            Some(e) => protocol::json_error(&e, request_id),
            None => std::future::pending().await,
        };
    }
    let scope = crate::state::Scope::new(who.account.clone(), who.region.clone());
    let result = {
        let (mut state, now) = shared.state();
        match service {
            Service::Kms => api::kms(&mut state, &scope, now, op, &input),
            Service::Tagging => crate::tagging::handle(&mut state, &scope, op, &input),
            _ => crate::model::validate(op, &input).and_then(|()| api::sagemaker(&mut state, &scope, now, op, &input)),
        }
    };
    match result {
        Ok(out) => {
            record(shared, service_name, op, "ok", Some(&who), members);
            protocol::json_ok(&out, request_id)
        }
        Err(e) => {
            record(shared, service_name, op, &e.code, Some(&who), members);
            protocol::json_error(&e, request_id)
        }
    }
}

async fn handle_sts(
    shared: &Shared,
    signal: &DropSignal,
    headers: &HeaderMap,
    body: &Bytes,
    request_id: &str,
) -> Response<Body> {
    let params: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    let members = sts::call_members(&params);
    let error = |e: &ApiError| protocol::xml(e.status, sts::error_xml(e, request_id), request_id);
    let who = match caller(shared, headers, Service::Sts) {
        Ok(c) => c,
        Err(e) => {
            record(shared, "sts", &action, &e.code, None, members);
            return error(&e);
        }
    };
    if let Err(fault) = gate(shared, signal, "sts", &action).await {
        let outcome = fault.as_ref().map_or("dropped", |e| e.code.as_str());
        record(shared, "sts", &action, outcome, Some(&who), members);
        return match fault {
            // STS names its throttling code "Throttling".
            Some(e) if e.code == "ThrottlingException" => error(&ApiError::new(400, "Throttling", e.message)),
            Some(e) => error(&e),
            None => std::future::pending().await,
        };
    }
    let result = {
        let (mut state, now) = shared.state();
        sts::handle(&mut state, &who.identity, &action, &params, now, request_id)
    };
    match result {
        Ok(xml) => {
            record(shared, "sts", &action, "ok", Some(&who), members);
            protocol::xml(200, xml, request_id)
        }
        Err(e) => {
            record(shared, "sts", &action, &e.code, Some(&who), members);
            error(&e)
        }
    }
}

async fn handle_s3(
    shared: &Shared,
    signal: &DropSignal,
    headers: &HeaderMap,
    request: s3::Request,
    head: bool,
    request_id: &str,
) -> Response<Body> {
    let op = request.op.name().to_string();
    let members = request.members();
    let error = |e: &S3Error| e.response(request_id, head);
    let who = match caller(shared, headers, Service::S3) {
        Ok(c) => c,
        Err(e) => {
            record(shared, "s3", &op, &e.code, None, members);
            return error(&e.into());
        }
    };
    if let Err(fault) = gate(shared, signal, "s3", &op).await {
        let fault = fault.map(S3Error::from_fault);
        let outcome = fault.as_ref().map_or("dropped", |e| e.code());
        record(shared, "s3", &op, outcome, Some(&who), members);
        return match fault {
            Some(e) => error(&e),
            None => std::future::pending().await,
        };
    }
    let scope = crate::state::Scope::new(who.account.clone(), who.region.clone());
    let result = {
        let (mut state, now) = shared.state();
        s3::execute(&mut state, &scope, now, &request)
    };
    match result {
        Ok(answer) => {
            record(shared, "s3", &op, "ok", Some(&who), members);
            answer.response(request_id)
        }
        Err(e) => {
            record(shared, "s3", &op, e.code(), Some(&who), members);
            error(&e)
        }
    }
}
