//! `/metrics` behind the API server's authentication and RBAC, over HTTPS: the real binary with
//! `--metrics-auth kubernetes` and a TLS certificate, scraped with real ServiceAccount tokens
//! (TokenRequest): no token 401, a ServiceAccount without the reader role 403, one bound to it
//! 200; the probes stay open and nothing is served in clear text.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_emulator::{Config as EmulatorConfig, Emulator};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::operator::scrape;
use crate::support::testenv::repo_root;
use crate::support::{TestEnv, TestNamespace};

const BINARY: &str = env!("CARGO_BIN_EXE_studio-operator");

fn tls_fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/tls").join(name)
}

/// The operator process, killed if the test fails before it stops it.
struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The cluster-scoped RBAC objects of a test, deleted when it ends.
struct ClusterRbac {
    client: Client,
    name: String,
}

impl Drop for ClusterRbac {
    fn drop(&mut self) {
        let (client, name) = (self.client.clone(), self.name.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let params = DeleteParams::default();
                let _ = Api::<ClusterRoleBinding>::all(client.clone())
                    .delete(&name, &params)
                    .await;
                let _ = Api::<ClusterRole>::all(client).delete(&name, &params).await;
            });
        }
    }
}

/// What the chart's `<fullname>-metrics-reader` ClusterRole grants, bound to `reader`.
async fn grant_metrics_reader(client: &Client, name: &str, namespace: &str, reader: &str) {
    let meta = ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    };
    let role = ClusterRole {
        metadata: meta.clone(),
        rules: Some(vec![PolicyRule {
            non_resource_urls: Some(vec!["/metrics".into()]),
            verbs: vec!["get".into()],
            ..Default::default()
        }]),
        ..Default::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: reader.into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    let params = PostParams::default();
    Api::<ClusterRole>::all(client.clone())
        .create(&params, &role)
        .await
        .unwrap();
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(&params, &binding)
        .await
        .unwrap();
}

/// A ServiceAccount and a fresh token of it (TokenRequest, the API server's audience).
async fn service_account_token(client: &Client, namespace: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    if accounts.get_opt(name).await.unwrap().is_none() {
        accounts.create(&PostParams::default(), &account).await.unwrap();
    }
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap();
    issued
        .status
        .and_then(|status| status.token)
        .expect("a TokenRequest answers with a token")
}

/// GET `path` over HTTPS, trusting only the test certificate: (status, headers, body).
async fn https_get(port: u16, path: &str, token: Option<&str>) -> std::io::Result<(u16, String, String)> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(tls_fixture("metrics-a.crt")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let server = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config)).connect(server, tcp).await?;
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // A server that closes without close_notify still sent a whole response.
    if let Err(error) = tls.read_to_end(&mut response).await
        && response.is_empty()
    {
        return Err(error);
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, head.to_ascii_lowercase(), body.to_string()))
}

fn start_operator(port: u16, namespace: &str, emulator: &Emulator, log: &std::path::Path) -> Operator {
    let env = TestEnv::get();
    let child = Command::new(BINARY)
        .args(["run", "--metrics-auth", "kubernetes", "--watch-namespace", namespace])
        .arg(format!("--metrics-addr=127.0.0.1:{port}"))
        .arg(format!("--metrics-tls-cert={}", tls_fixture("metrics-a.crt").display()))
        .arg(format!("--metrics-tls-key={}", tls_fixture("metrics-a.key").display()))
        .env("KUBECONFIG", &env.kubeconfig)
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIDMETRICSAUTH")
        .env("AWS_SECRET_ACCESS_KEY", "metrics-auth-secret")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start the operator binary");
    Operator(child)
}

#[tokio::test]
async fn metrics_need_a_token_the_api_server_allows_and_are_served_over_https_only() {
    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = TestNamespace::new(&client, "metrics-auth").await;
    let ns = namespace.name.as_str();
    let reader_role = format!("{ns}-metrics-reader");
    let _rbac = ClusterRbac {
        client: client.clone(),
        name: reader_role.clone(),
    };
    grant_metrics_reader(&client, &reader_role, ns, "prometheus").await;
    let prometheus = service_account_token(&client, ns, "prometheus").await;
    let intruder = service_account_token(&client, ns, "intruder").await;

    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join(format!("{ns}-operator.log"));
    let mut operator = start_operator(port, ns, &emulator, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(https_get(port, "/readyz", None).await, Ok((200, _, _))) {
        assert!(
            operator.0.try_wait().unwrap().is_none(),
            "the operator exited: {}",
            read(&log)
        );
        assert!(Instant::now() < deadline, "never ready over HTTPS: {}", read(&log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, _, body) = https_get(port, "/healthz", None).await.unwrap();
    assert_eq!((code, body.as_str()), (200, "ok"), "the probes need no token");

    let (code, head, _) = https_get(port, "/metrics", None).await.unwrap();
    assert_eq!(code, 401, "no token");
    assert!(head.contains("\r\nwww-authenticate: bearer"), "{head}");
    let (code, _, _) = https_get(port, "/metrics", Some("not-a-token")).await.unwrap();
    assert_eq!(code, 401, "a token the API server does not know");
    let (code, _, body) = https_get(port, "/metrics", Some(&intruder)).await.unwrap();
    assert_eq!(code, 403, "a ServiceAccount without the reader role: {body}");
    let (code, _, body) = https_get(port, "/metrics", Some(&prometheus)).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("studio_operator_") && body.trim_end().ends_with("# EOF"),
        "{body}"
    );

    // RBAC decides: once bound, the intruder's next token is allowed. Its first token's refusal
    // is remembered (for a minute), so a scraper cannot make the operator review it each time.
    let binding_api: Api<ClusterRoleBinding> = Api::all(client.clone());
    let mut binding = binding_api.get(&reader_role).await.unwrap();
    binding.subjects.get_or_insert_with(Vec::new).push(Subject {
        kind: "ServiceAccount".into(),
        name: "intruder".into(),
        namespace: Some(ns.into()),
        ..Default::default()
    });
    binding_api
        .replace(&reader_role, &PostParams::default(), &binding)
        .await
        .unwrap();
    let fresh = service_account_token(&client, ns, "intruder").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while https_get(port, "/metrics", Some(&fresh)).await.unwrap().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the new binding never allowed the fresh token"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        https_get(port, "/metrics", Some(&intruder)).await.unwrap().0,
        403,
        "cached"
    );

    // No clear text: a plain HTTP request gets no metrics.
    let plain = scrape(format!("127.0.0.1:{port}").parse().unwrap(), "/metrics").await;
    assert!(
        !matches!(&plain, Ok((200, body)) if body.contains("# EOF")),
        "{plain:?}"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &operator.0.id().to_string()])
        .status();
    let exit = tokio::task::spawn_blocking(move || operator.0.wait().map(|status| (status, operator)));
    let (status, _operator) = tokio::time::timeout(Duration::from_secs(30), exit)
        .await
        .expect("exits after SIGTERM")
        .unwrap()
        .unwrap();
    let output = read(&log);
    let _ = std::fs::remove_file(&log);
    assert!(status.success(), "{output}");
    for token in [&prometheus, &intruder, &fresh] {
        assert!(!output.contains(token.as_str()), "a token was logged: {output}");
    }
    let refused = format!("system:serviceaccount:{ns}:intruder");
    assert!(
        output
            .lines()
            .any(|l| l.contains("metrics request refused") && l.contains(&refused)),
        "{output}"
    );
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
