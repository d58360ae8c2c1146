//! The real `studio-operator` binary: health endpoints, JSON logs, clean shutdown on SIGTERM,
//! and the CRDs it prints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_emulator::{Config as EmulatorConfig, Emulator};

use crate::support::TestEnv;
use crate::support::operator::scrape;
use crate::support::testenv::repo_root;

const BINARY: &str = env!("CARGO_BIN_EXE_studio-operator");

/// Kills the operator if the test fails before it stops it.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn run_serves_health_and_metrics_logs_json_and_stops_on_sigterm() {
    let env = TestEnv::get();
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let port = free_port();
    let child = Command::new(BINARY)
        .args([
            "run",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--watch-namespace",
            "binary-test-none",
        ])
        .env("KUBECONFIG", &env.kubeconfig)
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", "AKIDBINARYTEST")
        .env("AWS_SECRET_ACCESS_KEY", "binary-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the operator binary");
    let mut child = KillOnDrop(Some(child));
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = scrape(addr, "/readyz").await {
            assert_eq!(body, "ready");
            break;
        }
        assert!(Instant::now() < deadline, "the operator never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, healthz) = scrape(addr, "/healthz").await.unwrap();
    assert_eq!((code, healthz.as_str()), (200, "ok"));
    let (code, metrics) = scrape(addr, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.trim_end().ends_with("# EOF"),
        "an OpenMetrics exposition: {metrics}"
    );

    // SIGTERM: a clean exit with status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.as_ref().unwrap().id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let child = child.0.as_mut().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines: Vec<String> = BufReader::new(stderr).lines().map_while(Result::ok).collect();
        (child.wait().unwrap(), lines)
    });
    let (exit, lines) = tokio::time::timeout(Duration::from_secs(30), exit)
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}; log: {lines:#?}");
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            parsed.get("level").is_some() && parsed.get("timestamp").is_some(),
            "{line}"
        );
        assert!(
            !line.contains("binary-test-secret"),
            "credentials must never be logged: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("shutdown signal received")),
        "{lines:#?}"
    );
}

#[test]
fn crd_command_prints_exactly_the_committed_crds() {
    let out = Command::new(BINARY).arg("crd").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(repo_root().join("crds/studio-operator.io.yaml")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "crds/ is stale: run `make crds`"
    );
}

#[test]
fn run_without_a_cluster_fails_with_a_clear_message() {
    let out = Command::new(BINARY)
        .args(["run", "--log-format", "text", "--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to Kubernetes"), "{stderr}");
}

#[tokio::test]
async fn migration_plan_prints_the_copy_script_of_a_recreated_domain() {
    use kube::Api;
    use kube::api::{Patch, PatchParams};
    use studio_operator::api::StudioDomain;

    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = crate::support::TestNamespace::new(&client, "migration").await;
    let domains: Api<StudioDomain> = Api::namespaced(client, &namespace.name);
    let manifest = crate::domain::domain_manifest("recreated", "alias/studio");
    domains
        .patch("recreated", &PatchParams::apply("e2e-test"), &Patch::Apply(&manifest))
        .await
        .unwrap();
    let status = serde_json::json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioDomain",
        "status": {"migrationPlan": {
            "oldDomainId": "d-old000000001", "newDomainId": "d-new000000002",
            "oldEfsId": "fs-0123456789abcdef0", "newEfsId": "fs-0fedcba9876543210",
            "entries": [{"kind": "UserProfile", "name": "alice", "oldUid": "200001", "newUid": "200007"}]
        }}
    });
    domains
        .patch_status("recreated", &PatchParams::apply("e2e-test"), &Patch::Apply(&status))
        .await
        .unwrap();
    let target = format!("{}/recreated", namespace.name);
    let out = Command::new(BINARY)
        .args(["migration-plan", &target])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("OLD_EFS=fs-0123456789abcdef0\nNEW_EFS=fs-0fedcba9876543210\nREGION=us-east-1"),
        "{script}"
    );
    assert!(script.contains("copy_home UserProfile alice 200001 200007"), "{script}");

    let out = Command::new(BINARY)
        .args(["migration-plan", &format!("{}/never-recreated", namespace.name)])
        .env("KUBECONFIG", &env.kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read StudioDomain"));
}
