//! Manifests against the real apiserver: every example applies, every invalid fixture is
//! rejected at `kubectl apply` with the message its `# expect:` lines name.

use crate::support::wait;
use crate::support::{TestEnv, TestNamespace, testenv::repo_root, testenv::yaml_files};

#[tokio::test]
async fn every_example_applies_with_server_side_apply() {
    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = TestNamespace::new(&client, "examples").await;
    // examples/gitops holds Argo CD and Flux objects, whose CRDs this cluster does not have.
    let files: Vec<_> = yaml_files(&repo_root().join("examples"))
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "gitops"))
        .collect();
    assert!(
        files.len() >= 4,
        "examples/ should hold the example manifests, found {files:?}"
    );
    // Multi-tenant examples name their namespaces and Guardrails are cluster-scoped: they are
    // applied as they are, then removed.
    let mut cluster_scoped = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let names_namespaces = text.lines().any(|l| {
            l.starts_with("  namespace:") || l.starts_with("kind: Namespace") || l.starts_with("kind: Guardrail")
        });
        let target: &[&str] = if names_namespaces {
            cluster_scoped.push(file.clone());
            &[]
        } else {
            &["-n", &namespace.name]
        };
        let out = env.kubectl(
            &[
                &["apply", "--server-side", "--dry-run=server"][..],
                target,
                &["-f", file.to_str().unwrap()],
            ]
            .concat(),
        );
        assert!(
            out.status.success(),
            "{} does not apply: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = env.kubectl(&[&["apply", "--server-side"][..], target, &["-f", file.to_str().unwrap()]].concat());
        assert!(
            out.status.success(),
            "{} does not apply: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("serverside-applied"),
            "{}: unexpected kubectl output {stdout}",
            file.display()
        );
    }
    for file in cluster_scoped.iter().rev() {
        env.kubectl(&[
            "delete",
            "--ignore-not-found",
            "--wait=false",
            "-f",
            file.to_str().unwrap(),
        ]);
    }
}

#[tokio::test]
async fn invalid_manifests_are_rejected_with_their_expected_message() {
    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = TestNamespace::new(&client, "invalid").await;
    let files = yaml_files(&repo_root().join("tests/fixtures/invalid"));
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` line", file.display());
        let out = env.kubectl(&[
            "apply",
            "--server-side",
            "-n",
            &namespace.name,
            "-f",
            file.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{}: was accepted", file.display()));
            continue;
        }
        for want in expected {
            if !stderr.contains(want) {
                failures.push(format!("{}: expected {want:?} in:\n{stderr}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Applies YAML (stdin) with kubectl; panics with kubectl's error on failure.
fn kubectl_apply(env: &TestEnv, yaml: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::support::testenv::hack_bin("kubectl"))
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["apply", "--server-side", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{yaml}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until a resource's Ready condition is True. (Polling with short kubectl calls: a
/// blocking `kubectl wait` would stall the in-process operator on this test's runtime.)
async fn wait_ready(env: &TestEnv, resource: &str, namespace: &str) {
    wait::until(
        &format!("{resource} Ready"),
        std::time::Duration::from_secs(90),
        || async {
            let out = env.kubectl(&["get", resource, "-n", namespace, "-o", "json"]);
            let object: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
            let conditions = object["status"]["conditions"].as_array().cloned().unwrap_or_default();
            if conditions.iter().any(|c| c["type"] == "Ready" && c["status"] == "True") {
                Ok(())
            } else {
                Err(format!("{conditions:#?}"))
            }
        },
    )
    .await;
}

/// `Kind/name Type=Status Reason` of a `# condition:` line.
struct Expected {
    kind: String,
    name: String,
    type_: String,
    status: String,
    reason: String,
}

fn parse_condition(line: &str) -> Expected {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (kind, name) = parts[0].split_once('/').expect("Kind/name");
    let (type_, status) = parts[1].split_once('=').expect("Type=Status");
    Expected {
        kind: kind.into(),
        name: name.into(),
        type_: type_.into(),
        status: status.into(),
        reason: parts[2].into(),
    }
}

/// A fixture's `# console: UserProfile <StudioDomain> <profile> [<SSO user>]` line: a profile
/// made behind the operator's back (no ownership tags) in that Ready domain.
async fn console_profile(sagemaker: &aws_sdk_sagemaker::Client, namespace: &str, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let ["UserProfile", domain, profile, sso @ ..] = words.as_slice() else {
        panic!("# console: UserProfile <StudioDomain> <profile> [<SSO user>], not {line:?}");
    };
    let domains: kube::Api<studio_operator::api::StudioDomain> =
        kube::Api::namespaced(TestEnv::get().client().await, namespace);
    let status = domains.get(domain).await.unwrap().status.unwrap_or_default();
    let domain_id = status.domain_id.expect("the console's domain is Ready");
    let mut request = sagemaker
        .create_user_profile()
        .domain_id(domain_id)
        .user_profile_name(*profile);
    if let Some(user) = sso.first() {
        request = request
            .single_sign_on_user_identifier("UserName")
            .single_sign_on_user_value(*user);
    }
    request.send().await.unwrap();
}

#[tokio::test]
async fn what_only_the_operator_can_judge_gets_a_condition_that_says_what_to_change() {
    let env = TestEnv::get();
    let client = env.client().await;
    let platform = TestNamespace::new(&client, "rejected").await;
    let tenant = TestNamespace::new(&client, "rejected-tenant").await;
    let operator = crate::support::TestOperator::start_watching(&client, &[&platform.name, &tenant.name]).await;
    let sdk = crate::support::operator::sdk_config(&operator.emulator.endpoint());
    let kms = aws_sdk_kms::Client::new(&sdk);
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/studio")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let domain = crate::domain::domain_manifest("platform", "alias/studio");
    let domains: kube::Api<studio_operator::api::StudioDomain> = kube::Api::namespaced(client.clone(), &platform.name);
    crate::profile::apply(&domains, "platform", &domain).await;
    wait_ready(env, "studiodomain/platform", &platform.name).await;
    let platform_id = domains
        .get("platform")
        .await
        .unwrap()
        .status
        .unwrap()
        .domain_id
        .unwrap();

    let files = yaml_files(&repo_root().join("tests/fixtures/rejected"));
    assert!(files.len() >= 5, "{files:?}");
    let mut failures = Vec::new();
    let mut guardrails = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .unwrap()
            .replace("${NAMESPACE}", &platform.name)
            .replace("${TENANT}", &tenant.name)
            .replace("${PLATFORM_DOMAIN_ID}", &platform_id);
        let condition = text
            .lines()
            .find_map(|l| l.strip_prefix("# condition: "))
            .map(parse_condition)
            .unwrap_or_else(|| panic!("{} has no `# condition:` line", file.display()));
        let expected: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# expect: ")).collect();
        let documents: Vec<&str> = text.split("\n---\n").collect();
        // Everything before the subject is a prerequisite, applied and waited for first.
        for document in &documents[..documents.len() - 1] {
            kubectl_apply(env, document);
            let value: serde_json::Value = serde_norway::from_str(document).unwrap();
            let kind = value["kind"].as_str().unwrap().to_lowercase();
            let name = value["metadata"]["name"].as_str().unwrap().to_string();
            let namespace = value["metadata"]["namespace"]
                .as_str()
                .unwrap_or(&platform.name)
                .to_string();
            if kind == "guardrail" {
                guardrails.push(name.clone());
            }
            wait_ready(env, &format!("{kind}/{name}"), &namespace).await;
        }
        for console in text.lines().filter_map(|l| l.strip_prefix("# console: ")) {
            console_profile(&sagemaker, &platform.name, console).await;
        }
        let subject = documents[documents.len() - 1];
        kubectl_apply(env, subject);
        let namespace = serde_norway::from_str::<serde_json::Value>(subject).unwrap()["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&platform.name)
            .to_string();
        let seen = wait::until(
            &format!("{}", file.display()),
            std::time::Duration::from_secs(90),
            || {
                let condition = &condition;
                let namespace = namespace.clone();
                async move {
                    let out = env.kubectl(&[
                        "get",
                        &format!("{}/{}", condition.kind.to_lowercase(), condition.name),
                        "-n",
                        &namespace,
                        "-o",
                        "json",
                    ]);
                    let object: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
                    let conditions = object["status"]["conditions"].as_array().cloned().unwrap_or_default();
                    conditions
                        .iter()
                        .find(|c| {
                            c["type"] == condition.type_.as_str()
                                && c["status"] == condition.status.as_str()
                                && c["reason"] == condition.reason.as_str()
                        })
                        .and_then(|c| c["message"].as_str().map(String::from))
                        .ok_or_else(|| format!("{conditions:#?}"))
                }
            },
        )
        .await;
        for want in expected {
            if !seen.contains(want) {
                failures.push(format!("{}: expected {want:?} in {seen:?}", file.display()));
            }
        }
    }
    for guardrail in guardrails {
        env.kubectl(&["delete", "guardrail", &guardrail, "--wait=false"]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
