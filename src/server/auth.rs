//! Authentication and authorization of `/metrics` by the API server, as controller-runtime's
//! `WithAuthenticationAndAuthorization` filter and kube-rbac-proxy do: the bearer token is
//! checked with a TokenReview, its user with a SubjectAccessReview for `get` on the
//! non-resource URL `/metrics`. Who may scrape is then plain RBAC (the chart's
//! `<fullname>-metrics-reader` ClusterRole).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::ServeError;

/// The path and verb a scraper must be allowed (`nonResourceURLs: ["/metrics"]`, `get`).
pub const METRICS_PATH: &str = "/metrics";
const METRICS_VERB: &str = "get";
/// How long a decision is reused: Prometheus scrapes every 15-60 s with the same token, so the
/// API server sees two reviews per scraper and minute at most. Granting or revoking the reader
/// role, or a token's expiry, takes effect within this time.
const DECISION_TTL: Duration = Duration::from_secs(60);
/// Tokens remembered at most, so that requests with ever new tokens cannot grow memory.
const DECISION_CAPACITY: usize = 1024;

/// What the API server said about a request's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An authenticated user allowed `get` on `/metrics`.
    Allowed,
    /// No token, or one the API server does not authenticate.
    Unauthenticated,
    /// An authenticated user without the right.
    Denied,
}

impl Decision {
    /// The HTTP status of the answer.
    pub fn status(self) -> StatusCode {
        match self {
            Decision::Allowed => StatusCode::OK,
            Decision::Unauthenticated => StatusCode::UNAUTHORIZED,
            Decision::Denied => StatusCode::FORBIDDEN,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750: the scheme is
/// case-insensitive, the token one word).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim_start();
    let one_word = !token.is_empty() && !token.contains(char::is_whitespace);
    (scheme.eq_ignore_ascii_case("bearer") && one_word).then_some(token)
}

/// SHA-256 of a token: the cache key, so that the cache holds no usable credential.
pub type TokenDigest = [u8; 32];

/// The cache key of `token`.
pub fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// Recent decisions by token digest, positive and negative alike, each for a fixed time, at
/// most `capacity` of them.
#[derive(Debug)]
pub struct DecisionCache {
    entries: HashMap<TokenDigest, (Decision, Instant)>,
    ttl: Duration,
    capacity: usize,
}

impl DecisionCache {
    /// An empty cache keeping decisions for `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The decision about `key` if it was made less than the TTL before `now`.
    pub fn get(&self, key: &TokenDigest, now: Instant) -> Option<Decision> {
        self.entries
            .get(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(decision, _)| *decision)
    }

    /// Remembers `decision` about `key` from `now`. When full, expired decisions are dropped
    /// first, then the one closest to expiry.
    pub fn insert(&mut self, key: TokenDigest, decision: Decision, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, (_, expires)| now < *expires);
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self.oldest()
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (decision, now + self.ttl));
    }

    /// The key of the decision closest to expiry.
    fn oldest(&self) -> Option<TokenDigest> {
        self.entries
            .iter()
            .min_by_key(|(_, (_, expires))| *expires)
            .map(|(key, _)| *key)
    }
}

/// The TokenReview of `token`, for the API server's own audiences (those of ServiceAccount
/// tokens that Prometheus mounts or `kubectl create token` makes).
pub fn token_review(token: &str) -> TokenReview {
    TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            audiences: None,
        },
        ..Default::default()
    }
}

/// The user of an answered TokenReview, when the token is authenticated.
pub fn authenticated_user(status: Option<TokenReviewStatus>) -> Option<UserInfo> {
    let status = status?;
    if status.authenticated != Some(true) {
        return None;
    }
    status
        .user
        .filter(|user| user.username.as_deref().is_some_and(|name| !name.is_empty()))
}

/// The SubjectAccessReview asking whether `user` (with its groups, uid and extra, as the API
/// server's own authorizer would see it) may `get` `/metrics`.
pub fn access_review(user: UserInfo) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username,
            groups: user.groups,
            uid: user.uid,
            extra: user.extra,
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(METRICS_PATH.into()),
                verb: Some(METRICS_VERB.into()),
            }),
            resource_attributes: None,
        },
        ..Default::default()
    }
}

/// Allowed only by an explicit `allowed: true` (a `denied` or an evaluation error is a no).
pub fn is_allowed(status: Option<&SubjectAccessReviewStatus>) -> bool {
    status.is_some_and(|status| status.allowed && status.denied != Some(true))
}

/// Asks the API server about the tokens of `/metrics` requests, remembering its answers.
pub struct MetricsAuthorizer {
    client: Client,
    cache: Mutex<DecisionCache>,
}

impl MetricsAuthorizer {
    /// Reviews with the operator's own client (it needs `create` on `tokenreviews` and
    /// `subjectaccessreviews`).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: Mutex::new(DecisionCache::new(DECISION_TTL, DECISION_CAPACITY)),
        }
    }

    /// The decision about a request with these headers. An API error is returned, not cached.
    pub async fn decide(&self, headers: &HeaderMap) -> Result<Decision, ServeError> {
        let Some(token) = bearer_token(headers) else {
            return Ok(Decision::Unauthenticated);
        };
        let key = digest(token);
        if let Some(decision) = self.cache().get(&key, Instant::now()) {
            return Ok(decision);
        }
        let decision = self.review(token).await?;
        self.cache().insert(key, decision, Instant::now());
        Ok(decision)
    }

    /// A poisoned lock only means another request panicked mid-insert: the map is still sound.
    fn cache(&self) -> std::sync::MutexGuard<'_, DecisionCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn review(&self, token: &str) -> Result<Decision, ServeError> {
        let params = PostParams::default();
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&params, &token_review(token))
            .await
            .map_err(|source| ServeError::Review {
                review: "TokenReview",
                source,
            })?;
        let Some(user) = authenticated_user(reviewed.status) else {
            debug!("metrics request with a token the API server does not authenticate");
            return Ok(Decision::Unauthenticated);
        };
        let username = user.username.clone().unwrap_or_default();
        let access = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&params, &access_review(user))
            .await
            .map_err(|source| ServeError::Review {
                review: "SubjectAccessReview",
                source,
            })?;
        if is_allowed(access.status.as_ref()) {
            debug!(user = %username, "metrics reader authorized");
            Ok(Decision::Allowed)
        } else {
            info!(user = %username, path = METRICS_PATH, verb = METRICS_VERB, "metrics request refused: the user lacks the metrics reader role");
            Ok(Decision::Denied)
        }
    }
}

/// Middleware of `/metrics`: the request goes on only when the API server allows its token.
pub async fn require_metrics_reader(
    State(authorizer): State<Arc<MetricsAuthorizer>>,
    request: Request,
    next: Next,
) -> Response {
    let decision = match authorizer.decide(request.headers()).await {
        Ok(decision) => decision,
        Err(error) => {
            warn!(%error, "cannot check the credentials of a metrics request");
            return (StatusCode::SERVICE_UNAVAILABLE, "cannot check credentials\n").into_response();
        }
    };
    match decision {
        Decision::Allowed => next.run(request).await,
        Decision::Unauthenticated => (
            decision.status(),
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            "Unauthorized\n",
        )
            .into_response(),
        Decision::Denied => (decision.status(), "Forbidden\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Json;
    use axum::routing::post;
    use k8s_openapi::api::authentication::v1::UserInfo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::metrics::Metrics;
    use crate::server::{Health, MetricsSecurity};

    /// A stand-in API server answering the two reviews: the tokens `reader` and `other` belong
    /// to users of those names, only `reader` is in the group `metrics-readers`, the only
    /// subject allowed `get` on `/metrics`; `broken` makes the TokenReview fail. Returns a
    /// client of it and the number of reviews it answered.
    async fn fake_api_server() -> (Client, Arc<AtomicUsize>) {
        let reviews = Arc::new(AtomicUsize::new(0));
        let (counted, allowed) = (reviews.clone(), reviews.clone());
        let app = axum::Router::new()
            .route(
                "/apis/authentication.k8s.io/v1/tokenreviews",
                post(move |Json(mut review): Json<TokenReview>| async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let token = review.spec.token.clone();
                    if token == "broken" {
                        return Err(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    let known = token == "reader" || token == "other";
                    review.status = Some(TokenReviewStatus {
                        authenticated: Some(known),
                        user: known.then(|| UserInfo {
                            username: Some(token.clone()),
                            groups: (token == "reader").then(|| vec!["metrics-readers".into()]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                    Ok(Json(review))
                }),
            )
            .route(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                post(move |Json(mut review): Json<SubjectAccessReview>| async move {
                    allowed.fetch_add(1, Ordering::SeqCst);
                    let spec = &review.spec;
                    let attributes = spec.non_resource_attributes.clone().unwrap_or_default();
                    let in_group = spec.groups.iter().flatten().any(|g| g == "metrics-readers");
                    let asks =
                        attributes.path.as_deref() == Some("/metrics") && attributes.verb.as_deref() == Some("get");
                    review.status = Some(SubjectAccessReviewStatus {
                        allowed: in_group && asks,
                        ..Default::default()
                    });
                    Json(review)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        (client, reviews)
    }

    fn bearer(token: &str) -> HeaderMap {
        headers(&format!("Bearer {token}"))
    }

    #[tokio::test]
    async fn the_api_server_is_asked_once_per_token_and_its_failures_are_not_remembered() {
        let (client, reviews) = fake_api_server().await;
        let authorizer = MetricsAuthorizer::new(client);
        let asked = || reviews.load(Ordering::SeqCst);
        assert_eq!(
            authorizer.decide(&HeaderMap::new()).await.unwrap(),
            Decision::Unauthenticated
        );
        assert_eq!(asked(), 0, "no token, no review");
        assert_eq!(authorizer.decide(&bearer("reader")).await.unwrap(), Decision::Allowed);
        assert_eq!(asked(), 2, "a TokenReview, then a SubjectAccessReview with the groups");
        assert_eq!(authorizer.decide(&bearer("reader")).await.unwrap(), Decision::Allowed);
        assert_eq!(asked(), 2, "cached");
        assert_eq!(authorizer.decide(&bearer("other")).await.unwrap(), Decision::Denied);
        assert_eq!(authorizer.decide(&bearer("other")).await.unwrap(), Decision::Denied);
        assert_eq!(asked(), 4, "a refusal is cached too");
        assert_eq!(
            authorizer.decide(&bearer("stranger")).await.unwrap(),
            Decision::Unauthenticated
        );
        assert_eq!(
            authorizer.decide(&bearer("stranger")).await.unwrap(),
            Decision::Unauthenticated
        );
        assert_eq!(asked(), 5, "an unknown token: one TokenReview, no SubjectAccessReview");
        for _ in 0..2 {
            let failed = authorizer.decide(&bearer("broken")).await;
            assert!(
                matches!(
                    failed,
                    Err(ServeError::Review {
                        review: "TokenReview",
                        ..
                    })
                ),
                "{failed:?}"
            );
        }
        assert_eq!(asked(), 7, "a failed review is asked again");
    }

    /// GET `path` with optional extra header lines: (status, lowercased head).
    async fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, response.to_ascii_lowercase())
    }

    #[tokio::test]
    async fn metrics_answer_401_403_200_or_503_and_the_probes_stay_open() {
        let (client, _) = fake_api_server().await;
        let health = Health::new(Arc::new(Metrics::default()));
        health.set_ready(true);
        let security = MetricsSecurity {
            auth: crate::server::MetricsAuth::Kubernetes,
            tls: None,
        };
        let (addr, serve) = crate::server::bind(
            ([127, 0, 0, 1], 0).into(),
            health,
            &security,
            &client,
            std::future::pending(),
        )
        .await
        .unwrap();
        tokio::spawn(serve);
        assert_eq!(get(addr, "/healthz", "").await.0, 200);
        assert_eq!(get(addr, "/readyz", "").await.0, 200);
        let (code, head) = get(addr, "/metrics", "").await;
        assert_eq!(code, 401);
        assert!(head.contains("\r\nwww-authenticate: bearer\r\n"), "{head}");
        assert_eq!(
            get(addr, "/metrics", "Authorization: Basic cmVhZGVyOng=\r\n").await.0,
            401
        );
        assert_eq!(get(addr, "/metrics", "Authorization: Bearer stranger\r\n").await.0, 401);
        assert_eq!(get(addr, "/metrics", "Authorization: Bearer other\r\n").await.0, 403);
        assert_eq!(get(addr, "/metrics", "Authorization: Bearer broken\r\n").await.0, 503);
        let (code, body) = get(addr, "/metrics", "Authorization: Bearer reader\r\n").await;
        assert_eq!(code, 200);
        assert!(body.trim_end().ends_with("# eof"), "{body}");
    }

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn only_a_one_word_bearer_token_is_taken() {
        assert_eq!(bearer_token(&headers("Bearer abc.def-ghi")), Some("abc.def-ghi"));
        assert_eq!(bearer_token(&headers("bearer   abc")), Some("abc"), "case and spaces");
        assert_eq!(bearer_token(&headers("BEARER abc ")), Some("abc"));
        for bad in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearerabc",
            "abc",
        ] {
            assert_eq!(bearer_token(&headers(bad)), None, "{bad}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn decisions_answer_200_401_403() {
        assert_eq!(Decision::Allowed.status(), StatusCode::OK);
        assert_eq!(Decision::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Decision::Denied.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_cache_forgets_after_its_ttl_and_never_holds_the_token() {
        let mut cache = DecisionCache::new(Duration::from_secs(60), 8);
        let start = Instant::now();
        let key = digest("secret-token");
        assert_ne!(&key[..], b"secret-token".as_slice());
        assert_eq!(cache.get(&key, start), None);
        cache.insert(key, Decision::Denied, start);
        assert_eq!(cache.get(&key, start + Duration::from_secs(59)), Some(Decision::Denied));
        assert_eq!(cache.get(&key, start + Duration::from_secs(60)), None);
        assert_eq!(cache.get(&digest("other-token"), start), None);
        cache.insert(key, Decision::Allowed, start + Duration::from_secs(61));
        assert_eq!(
            cache.get(&key, start + Duration::from_secs(62)),
            Some(Decision::Allowed)
        );
        assert_eq!(cache.entries.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_expired_decisions_then_the_oldest() {
        let mut cache = DecisionCache::new(Duration::from_secs(60), 3);
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        cache.insert(digest("a"), Decision::Allowed, at(0));
        cache.insert(digest("b"), Decision::Allowed, at(10));
        cache.insert(digest("c"), Decision::Allowed, at(20));
        cache.insert(digest("d"), Decision::Denied, at(30));
        assert_eq!(cache.entries.len(), 3);
        assert_eq!(cache.get(&digest("a"), at(30)), None, "the oldest went");
        assert_eq!(cache.get(&digest("b"), at(30)), Some(Decision::Allowed));
        cache.insert(digest("b"), Decision::Denied, at(31));
        assert_eq!(cache.entries.len(), 3, "updating a held token evicts nothing");
        // At 85 s, c (from 20 s) has expired and makes room: d (30 s) and b (31 s) stay.
        cache.insert(digest("e"), Decision::Allowed, at(85));
        assert_eq!(cache.entries.len(), 3);
        assert!(!cache.entries.contains_key(&digest("c")));
        assert_eq!(cache.get(&digest("d"), at(85)), Some(Decision::Denied));
        assert_eq!(cache.get(&digest("b"), at(85)), Some(Decision::Denied));
        assert_eq!(cache.get(&digest("e"), at(85)), Some(Decision::Allowed));
    }

    #[test]
    fn only_an_authenticated_named_user_goes_on_to_authorization() {
        let user = UserInfo {
            username: Some("system:serviceaccount:monitoring:prometheus".into()),
            ..Default::default()
        };
        let status = |authenticated, user: Option<UserInfo>| {
            Some(TokenReviewStatus {
                authenticated,
                user,
                ..Default::default()
            })
        };
        assert_eq!(
            authenticated_user(status(Some(true), Some(user.clone()))),
            Some(user.clone())
        );
        assert_eq!(authenticated_user(status(Some(false), Some(user.clone()))), None);
        assert_eq!(authenticated_user(status(None, Some(user))), None);
        assert_eq!(authenticated_user(status(Some(true), None)), None);
        assert_eq!(authenticated_user(status(Some(true), Some(UserInfo::default()))), None);
        assert_eq!(authenticated_user(None), None);
        assert_eq!(token_review("t").spec.token, "t");
    }

    #[test]
    fn the_access_review_asks_for_get_on_metrics_as_the_whole_user() {
        let extra = BTreeMap::from([(
            "authentication.kubernetes.io/pod-name".to_string(),
            vec!["p-0".to_string()],
        )]);
        let review = access_review(UserInfo {
            username: Some("system:serviceaccount:monitoring:prometheus".into()),
            uid: Some("4f1c".into()),
            groups: Some(vec!["system:serviceaccounts".into(), "system:authenticated".into()]),
            extra: Some(extra.clone()),
        });
        let spec = review.spec;
        assert_eq!(
            spec.user.as_deref(),
            Some("system:serviceaccount:monitoring:prometheus")
        );
        assert_eq!(spec.uid.as_deref(), Some("4f1c"));
        assert_eq!(spec.groups.unwrap().len(), 2);
        assert_eq!(spec.extra, Some(extra));
        let attributes = spec.non_resource_attributes.unwrap();
        assert_eq!(
            (attributes.path.as_deref(), attributes.verb.as_deref()),
            (Some("/metrics"), Some("get"))
        );
        assert!(spec.resource_attributes.is_none());
    }

    #[test]
    fn only_an_explicit_allow_allows() {
        let status = |allowed, denied| SubjectAccessReviewStatus {
            allowed,
            denied,
            ..Default::default()
        };
        assert!(is_allowed(Some(&status(true, None))));
        assert!(is_allowed(Some(&status(true, Some(false)))));
        assert!(!is_allowed(Some(&status(true, Some(true)))));
        assert!(!is_allowed(Some(&status(false, None))));
        assert!(!is_allowed(None));
    }
}
