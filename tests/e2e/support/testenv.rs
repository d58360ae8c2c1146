//! Starts `hack/bin/kube-testenv` once per test binary (or uses the cluster that
//! `STUDIO_TEST_KUBECONFIG` names) and installs `crds/` into it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// The shared test cluster.
pub struct TestEnv {
    /// Path of an admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Kept so the child lives as long as the test binary; it exits when our end of its stdin
    /// closes, which happens when this process ends, however it ends.
    _child: Option<Child>,
}

static ENV: OnceLock<TestEnv> = OnceLock::new();

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A binary built by `hack/build-testenv.sh` (kube-testenv, kubectl).
pub fn hack_bin(name: &str) -> PathBuf {
    repo_root().join("hack/bin").join(name)
}

impl TestEnv {
    /// The shared cluster, started on first use.
    pub fn get() -> &'static TestEnv {
        studio_operator::install_crypto_provider();
        ENV.get_or_init(|| {
            let env = match std::env::var_os("STUDIO_TEST_KUBECONFIG") {
                Some(path) => TestEnv {
                    kubeconfig: PathBuf::from(path),
                    _child: None,
                },
                None => start_testenv(),
            };
            env.install_crds();
            env
        })
    }

    /// A kube client for the admin user. Made per test, since each `#[tokio::test]` has its own
    /// runtime and connections must not outlive it.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("readable kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("valid kubeconfig");
        Client::try_from(config).expect("client")
    }

    /// A kube client acting as `user` (impersonation by the admin): what that user's RBAC
    /// allows, nothing more.
    pub async fn client_as(&self, user: &str) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("readable kubeconfig");
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("valid kubeconfig");
        config.auth_info.impersonate = Some(user.to_string());
        Client::try_from(config).expect("client")
    }

    /// Runs the real kubectl against the test cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(hack_bin("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("run kubectl (build it with `make testenv`)")
    }

    /// The kstatus verdict (`hack/bin/kstatus-check`, the library Flux uses) on a live object:
    /// (status, message).
    pub fn kstatus(&self, resource: &str, namespace: &str) -> (String, String) {
        let out = Command::new(hack_bin("kstatus-check"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-n", namespace, resource])
            .output()
            .expect("run kstatus-check (build it with `make kstatus-check`)");
        assert!(
            out.status.success(),
            "kstatus-check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("kstatus-check prints JSON");
        (
            verdict["status"].as_str().unwrap_or_default().to_string(),
            verdict["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    fn install_crds(&self) {
        let crds = repo_root().join("crds");
        let out = self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crds.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "installing CRDs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = self.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/studiodomains.studio-operator.io",
            "crd/userprofiles.studio-operator.io",
            "crd/sharedspaces.studio-operator.io",
            "crd/guardrails.studio-operator.io",
            "crd/studiolifecycleconfigs.studio-operator.io",
            "crd/studioimages.studio-operator.io",
        ]);
        assert!(
            out.status.success(),
            "CRDs not established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn start_testenv() -> TestEnv {
    let binary = hack_bin("kube-testenv");
    assert!(
        binary.exists(),
        "{} is missing: run `make testenv` first",
        binary.display()
    );
    let mut child = Command::new(&binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("TESTENV_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start kube-testenv");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the ready line of kube-testenv");
    let ready: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("kube-testenv printed {line:?}, not its ready line: {e}"));
    TestEnv {
        kubeconfig: PathBuf::from(ready["kubeconfig"].as_str().expect("kubeconfig path")),
        _child: Some(child),
    }
}

/// A namespace of its own for one test, deleted when the test ends.
pub struct TestNamespace {
    /// Its name.
    pub name: String,
    client: Client,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>`.
    pub async fn new(client: &Client, prefix: &str) -> TestNamespace {
        let name = format!("{prefix}-{:08x}", rand::random::<u32>());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create test namespace");
        TestNamespace {
            name,
            client: client.clone(),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let name = self.name.clone();
        // Best effort: the runtime may be shutting down with the test.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = namespaces.delete(&name, &DeleteParams::default()).await;
            });
        }
    }
}

/// Every YAML file below a directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
