//! The whole loop with the real in-app agent: the lifecycle script exactly as the operator
//! rendered it into the emulator runs the space backup agent (the venv of
//! tests/space-backup/venv.sh gives it boto3) against the emulator's SageMaker and S3. The agent
//! backs a running space's home up, answers the operator's `backup-requested` during a domain
//! recreation, and restores the home into the recreated space, which the operator tagged
//! `restore-from`. Nothing plays the agent here: every tag and object comes from its own calls.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_emulator::CallRecord;
use kube::Api;
use serde_json::json;
use studio_operator::api::SharedSpace;

use crate::domain::{Setup, setup};
use crate::profile::{app, launch, wait_for};
use crate::space_data::{
    LAST_ACTIVITY, LAST_BACKUP, backed_up_domain, domain_with_spaces, tag, wait_restore, wait_restore_pending,
};
use crate::support::wait::{self, has};

const BUCKET: &str = "studio-backups";

/// The venv's python, built once per test run (pip is skipped when the pins are installed).
fn agent_python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/space-backup/venv.sh");
        let out = Command::new(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/space-backup/venv.sh");
        assert!(out.status.success(), "tests/space-backup/venv.sh failed");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// One app's world: its home directory and the agent's directory, below a scratch root that is
/// removed (and the agent killed) when the test ends, passed or not.
struct AppHost {
    root: PathBuf,
}

impl AppHost {
    fn new(test: &str) -> AppHost {
        let root = std::env::temp_dir().join(format!("e2e-agent-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("home")).unwrap();
        AppHost { root }
    }

    fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// Runs the lifecycle script as Studio does at the app's start: it returns once the agent
    /// has restored the home (or found nothing to restore); the agent goes on in the background.
    /// Awaited, not blocking: the emulator serves the agent on this test's runtime.
    async fn start(&self, script: &str, endpoint: &str, metadata: serde_json::Value) {
        let metadata_file = self.root.join("resource-metadata.json");
        std::fs::write(&metadata_file, metadata.to_string()).unwrap();
        std::fs::write(self.root.join("idle"), "").unwrap();
        let status = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs([
                ("SPACE_BACKUP_PYTHON", agent_python()),
                ("AWS_ENDPOINT_URL", endpoint),
                ("AWS_ACCESS_KEY_ID", "AKIDTESTOPERATOR"),
                ("AWS_SECRET_ACCESS_KEY", "test-secret"),
                ("AWS_CONFIG_FILE", "/dev/null"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("SPACE_BACKUP_POLL_SECONDS", "0.3"),
                ("SPACE_BACKUP_ACTIVITY_SECONDS", "0.3"),
                ("SPACE_BACKUP_RESTORE_BUDGET_SECONDS", "60"),
                ("JUPYTER_BASE_URL", "http://127.0.0.1:9"),
            ])
            .env("SPACE_BACKUP_HOME", self.home())
            .env("SPACE_BACKUP_DIR", self.root.join("agent"))
            .env("SPACE_BACKUP_IDLE_FILE", self.root.join("idle"))
            .env("ACTIVITY_REPORTER_DIR", self.root.join("reporter"))
            .env("STUDIO_RESOURCE_METADATA", &metadata_file)
            .stdout(Stdio::null())
            .status()
            .await
            .expect("run the lifecycle script");
        assert!(status.success(), "the lifecycle script never fails an app's start");
    }

    /// Studio's idle file: the user was active just now.
    fn touch_activity(&self) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        std::fs::write(self.root.join("idle"), now).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("agent/agent.log")).unwrap_or_default()
    }

    fn stop_agent(&self) {
        let pid_file = self.root.join("agent/agent.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.trim())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_file(pid_file);
        }
    }
}

impl Drop for AppHost {
    fn drop(&mut self) {
        self.stop_agent();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What a restore must give back: every entry below the home with its kind, mode, mtime and
/// content or link target.
fn tree(home: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mtime = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                "dir".to_string()
            } else {
                format!("file {}", String::from_utf8_lossy(&std::fs::read(&path).unwrap()))
            };
            let mode = meta.permissions().mode() & 0o7777;
            out.insert(rel, format!("{what} mode {mode:o} mtime {}", mtime.as_nanos()));
        }
    }
    let mut out = BTreeMap::new();
    walk(home, home, &mut out);
    out
}

fn write(home: &Path, rel: &str, text: &str, mode: u32) {
    let path = home.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The agent's lifecycle script for JupyterLab, as the operator created it in the emulator.
async fn rendered_script(s: &Setup, domain_id: &str) -> String {
    let domain = s.sagemaker.describe_domain().domain_id(domain_id).send().await.unwrap();
    let arn = domain
        .default_user_settings
        .and_then(|d| d.jupyter_lab_app_settings)
        .and_then(|j| j.default_resource_spec)
        .and_then(|r| r.lifecycle_config_arn)
        .expect("the domain's JupyterLab apps start the agent");
    let config = s
        .sagemaker
        .describe_studio_lifecycle_config()
        .studio_lifecycle_config_name(arn.rsplit('/').next().unwrap())
        .send()
        .await
        .unwrap();
    let content = aws_smithy_types::base64::decode(config.studio_lifecycle_config_content().unwrap()).unwrap();
    String::from_utf8(content).unwrap()
}

/// Launches the space's JupyterLab app and returns Studio's resource metadata of it.
async fn running_app(s: &Setup, domain_id: &str, space: &str) -> serde_json::Value {
    launch(s, app(domain_id, None, Some(space), "JupyterLab", "default")).await;
    let described = s
        .sagemaker
        .describe_app()
        .domain_id(domain_id)
        .space_name(space)
        .app_type(aws_sdk_sagemaker::types::AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .unwrap();
    json!({
        "ResourceArn": described.app_arn().unwrap(),
        "ResourceName": "default",
        "AppType": "JupyterLab",
        "DomainId": domain_id,
        "SpaceName": space,
    })
}

/// Waits for a tag the agent writes, newer than `after` when given.
async fn wait_agent_tag(s: &Setup, arn: &str, key: &str, after: Option<&str>, host: &AppHost) -> String {
    wait::until(
        &format!("the agent tags {key}"),
        Duration::from_secs(90),
        || async move {
            match tag(s, arn, key).await {
                Some(v) if after.is_none_or(|a| v.as_str() > a) => Ok(v),
                other => Err(format!("{other:?}; agent log:\n{}", host.log())),
            }
        },
    )
    .await
}

fn seq_of(calls: &[CallRecord], what: impl Fn(&CallRecord) -> bool) -> Vec<u64> {
    calls.iter().filter(|c| what(c)).map(|c| c.seq).collect()
}

#[tokio::test]
async fn the_real_agent_backs_a_running_space_up_before_a_recreation_and_restores_it_into_the_new_space() {
    let s = setup("agent-loop").await;
    let s3 = s.s3();
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let arns = domain_with_spaces(&s, backed_up_domain(), &[("team", "JupyterLab")]).await;
    let domain_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    let script = rendered_script(&s, &domain_id).await;
    let endpoint = s.operator.emulator.endpoint();

    // The user's home: text, an executable, a name outside ASCII, an empty directory, a symlink.
    let old = AppHost::new("old");
    let home = old.home();
    write(&home, "notes/train.py", "print('epoch 1')\n", 0o640);
    write(&home, "bin/run.sh", "#!/bin/sh\n", 0o755);
    write(&home, "data/Überblick – ✓.csv", "a,b\n1,2\n", 0o600);
    write(&home, "scratch.txt", "deleted before the recreation\n", 0o644);
    std::fs::create_dir_all(home.join("empty")).unwrap();
    symlink("notes/train.py", home.join("latest")).unwrap();
    old.start(&script, &endpoint, running_app(&s, &domain_id, "team").await)
        .await;
    let first = wait_agent_tag(&s, &arns[0], LAST_BACKUP, None, &old).await;
    let location = format!("s3://{BUCKET}/team/e2e/{}/platform/team/", s.namespace.name);
    assert_eq!(
        tag(&s, &arns[0], "studio-operator.io/backup-location").await.as_deref(),
        Some(location.as_str()),
        "written with last-backup"
    );

    // Work after the first backup: only the final backup the operator asks for carries it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    write(&home, "notes/train.py", "print('epoch 2')\n", 0o640);
    write(
        &home,
        "notes/after-first-backup.txt",
        "kept by the final backup\n",
        0o644,
    );
    std::fs::remove_file(home.join("scratch.txt")).unwrap();
    old.touch_activity();
    wait_agent_tag(&s, &arns[0], LAST_ACTIVITY, Some(&first), &old).await;
    let want = tree(&home);

    let mut domain = backed_up_domain();
    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &domain).await;
    let (plan, entry) = wait_restore_pending(&s, "team").await;
    assert_eq!(entry.backup_location.as_deref(), Some(location.as_str()));

    // The operator asked, the agent backed up, and only then was the app stopped and the space
    // deleted: the order of the calls in the emulator's log.
    let calls = s.control().calls();
    let manifests = seq_of(&calls, |c| {
        c.operation == "PutObject"
            && c.outcome == "ok"
            && c.members["Key"]
                .as_str()
                .is_some_and(|k| k.contains("/team/manifests/"))
    });
    let delete_app = seq_of(&calls, |c| c.operation == "DeleteApp" && c.outcome == "ok");
    let delete_space = seq_of(&calls, |c| c.operation == "DeleteSpace" && c.outcome == "ok");
    assert_eq!(
        (manifests.len(), delete_app.len(), delete_space.len()),
        (2, 1, 1),
        "{calls:#?}"
    );
    assert!(
        manifests[1] < delete_app[0] && delete_app[0] < delete_space[0],
        "{calls:#?}"
    );
    old.stop_agent();

    // The new space's app starts: the script waits while the agent restores the home.
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let new_arn = wait_for(&spaces, "team", "Ready in the new domain", |o| {
        let st = o.status.clone()?;
        (st.domain_id.as_deref() == Some(plan.new_domain_id.as_str()) && has(&st.conditions, "Ready", "True"))
            .then_some(st.space_arn.clone()?)
    })
    .await;
    let new = AppHost::new("new");
    new.start(
        &rendered_script(&s, &plan.new_domain_id).await,
        &endpoint,
        running_app(&s, &plan.new_domain_id, "team").await,
    )
    .await;
    assert_eq!(tree(&new.home()), want, "agent log:\n{}", new.log());
    wait_agent_tag(&s, &new_arn, "studio-operator.io/restored", None, &new).await;
    wait_restore(&s, "team", "Restored", |r| r.starts_with("Restored ")).await;
}
