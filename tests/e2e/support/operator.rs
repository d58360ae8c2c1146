//! The operator, in-process, against the test cluster and an in-process AWS emulator. Each test
//! gets its own emulator and a namespace-scoped operator, so tests running in parallel never see
//! each other's resources.

use std::net::SocketAddr;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_emulator::{Config as EmulatorConfig, Delays, Emulator};
use kube::Client;
use studio_operator::aws::AwsClients;
use studio_operator::controller::{Clock, ControllerConfig};
use studio_operator::runtime::{self, RunOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Label that assigns a Guardrail to the test operator of one namespace.
pub const GUARDRAIL_LABEL: &str = "e2e.studio-operator.io/namespace";

/// Quick transitions so tests finish in seconds (the clock still runs in real time).
fn fast_delays() -> Delays {
    Delays::uniform(0.3)
}

/// Static credentials the emulator maps to its default account.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTESTOPERATOR",
            "test-secret",
            None,
            None,
            "test",
        )))
        .build()
}

/// A running operator and its emulator.
pub struct TestOperator {
    /// The emulator the operator talks to.
    pub emulator: Emulator,
    /// Where /metrics is served.
    pub metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestOperator {
    /// Starts an emulator with fast delays and an operator watching `namespace`.
    pub async fn start(client: &Client, namespace: &str) -> TestOperator {
        let emulator = Emulator::start(EmulatorConfig {
            delays: fast_delays(),
            ..Default::default()
        })
        .await
        .expect("start emulator");
        Self::start_with(client, namespace, emulator, Duration::from_secs(3)).await
    }

    /// Starts an emulator with fast delays and an operator watching several namespaces (a
    /// platform namespace and its tenants).
    pub async fn start_watching(client: &Client, namespaces: &[&str]) -> TestOperator {
        let emulator = Emulator::start(EmulatorConfig {
            delays: fast_delays(),
            ..Default::default()
        })
        .await
        .expect("start emulator");
        Self::start_scoped(client, namespaces, emulator, Duration::from_secs(3)).await
    }

    /// Starts an operator against a given emulator with a given resync interval.
    pub async fn start_with(client: &Client, namespace: &str, emulator: Emulator, resync: Duration) -> TestOperator {
        Self::start_scoped(client, &[namespace], emulator, resync).await
    }

    /// Starts an emulator and an operator that sweeps apps every half second, measuring idleness
    /// on the emulator's clock (which the test advances instead of sleeping).
    pub async fn start_sweeping(client: &Client, namespace: &str) -> TestOperator {
        let emulator = Emulator::start(EmulatorConfig {
            delays: fast_delays(),
            ..Default::default()
        })
        .await
        .expect("start emulator");
        let control = emulator.control().clone();
        let mut config = Self::config(&[namespace], Duration::from_secs(3));
        config.sweep_interval = Duration::from_millis(500);
        config.clock = Clock::new(move || control.now());
        Self::start_configured(client, emulator, config).await
    }

    /// Starts an emulator with fast delays and an operator watching `namespace`, with settings
    /// changed by `tune` (e.g. a longer resync or tag audit interval).
    pub async fn start_tuned(
        client: &Client,
        namespace: &str,
        tune: impl FnOnce(&mut ControllerConfig),
    ) -> TestOperator {
        let emulator = Emulator::start(EmulatorConfig {
            delays: fast_delays(),
            ..Default::default()
        })
        .await
        .expect("start emulator");
        let mut config = Self::config(&[namespace], Duration::from_secs(3));
        tune(&mut config);
        Self::start_configured(client, emulator, config).await
    }

    /// The settings of a test operator: fast polling, its own namespaces, and only the Guardrails
    /// labelled for its first namespace (`e2e.studio-operator.io/namespace`), so tests running
    /// in parallel never enforce each other's guardrails.
    fn config(namespaces: &[&str], resync: Duration) -> ControllerConfig {
        ControllerConfig {
            cluster_id: "e2e".into(),
            resync_interval: resync,
            poll_interval: Duration::from_millis(300),
            concurrency: 4,
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            sweep_interval: resync,
            guardrail_selector: Some(format!("{GUARDRAIL_LABEL}={}", namespaces[0])),
            policy_namespace: namespaces[0].to_string(),
            // The reconcile-time checks are what most tests exercise: objects that break a
            // guardrail must reach the API server. `guardrail::admission_*` turns them on.
            admission_policies: false,
            ..Default::default()
        }
    }

    async fn start_scoped(client: &Client, namespaces: &[&str], emulator: Emulator, resync: Duration) -> TestOperator {
        Self::start_configured(client, emulator, Self::config(namespaces, resync)).await
    }

    async fn start_configured(client: &Client, emulator: Emulator, controllers: ControllerConfig) -> TestOperator {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let metrics_addr = probe.local_addr().unwrap();
        drop(probe);
        let options = RunOptions {
            metrics_addr,
            controllers,
            leader_election: None,
            ..Default::default()
        };
        let aws = AwsClients::from_conf(sdk_config(&emulator.endpoint()));
        let (stop, stopped) = oneshot::channel::<()>();
        let client = client.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(error) = runtime::run(client, aws, options, shutdown).await {
                panic!("operator stopped: {error}");
            }
        });
        TestOperator {
            emulator,
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the operator (as a SIGTERM would) and waits for it; the emulator keeps its state.
    pub async fn stop(mut self) -> Emulator {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        self.emulator
    }
}

/// GET a path of the operator's metrics server, as Prometheus would: (status code, body).
pub async fn scrape(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
