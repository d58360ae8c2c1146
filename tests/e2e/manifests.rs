//! Manifests against the real apiserver: every example applies, every invalid fixture is
//! rejected at `kubectl apply` with the message its `# expect:` lines name.

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
