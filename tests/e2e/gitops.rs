//! GitOps health: kstatus (the library Flux uses, built as hack/bin/kstatus-check) judges the
//! live resources of every kind as the operator reports them: InProgress before the operator
//! looked and while it waits, Failed when stalled, Current when Ready.

use kube::Api;
use serde_json::json;
use studio_operator::api::{Guardrail, SharedSpace, StudioDomain, UserProfile};

use crate::domain::{domain_manifest, setup};
use crate::profile::{apply, profile_manifest, wait_for, wait_profile};
use crate::support::operator::GUARDRAIL_LABEL;
use crate::support::wait::{self, has};
use crate::support::{TestEnv, TestNamespace};

/// Waits until kstatus says `expected` about `resource` in `namespace`; returns the message.
async fn wait_kstatus(resource: &str, namespace: &str, expected: &str) -> String {
    wait::until(
        &format!("kstatus {resource} {expected}"),
        crate::profile::TIMEOUT,
        || async {
            let (status, message) = TestEnv::get().kstatus(resource, namespace);
            if status == expected {
                Ok(message)
            } else {
                Err(format!("{status}: {message}"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn kstatus_judges_every_kind_as_the_operator_reports_it() {
    // Nobody reconciles this namespace: a new resource is InProgress, not Current.
    let client = TestEnv::get().client().await;
    let idle = TestNamespace::new(&client, "gitops-unwatched").await;
    let unwatched: Api<StudioDomain> = Api::namespaced(client.clone(), &idle.name);
    apply(&unwatched, "fresh", &domain_manifest("fresh", "alias/none")).await;
    let (status, message) = TestEnv::get().kstatus("studiodomain/fresh", &idle.name);
    assert_eq!(status, "InProgress", "{message}");
    assert!(message.contains("latest observed generation is 0"), "{message}");

    let s = setup("gitops").await;
    let ns = s.namespace.name.clone();
    // A profile waiting for its domain is InProgress.
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &ns);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    wait_profile(&profiles, "alice", "Reconciling", "True").await;
    let message = wait_kstatus("userprofile/alice", &ns, "InProgress").await;
    assert!(message.contains("does not exist"), "{message}");

    // A domain whose KMS key does not exist is Stalled: Failed, with the message to act on.
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    s.wait_condition("platform", "Stalled", "True").await;
    let message = wait_kstatus("studiodomain/platform", &ns, "Failed").await;
    assert!(message.contains("alias/studio"), "{message}");

    // Once the key exists everything becomes Ready: Current.
    s.key("alias/studio").await;
    s.wait_ready("platform").await;
    wait_kstatus("studiodomain/platform", &ns, "Current").await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    wait_kstatus("userprofile/alice", &ns, "Current").await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &ns);
    let space = json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "SharedSpace",
        "metadata": {"name": "team"},
        "spec": {"domainRef": {"name": "platform"}, "sharing": {"type": "Shared", "ownerProfile": "alice"}, "appType": "JupyterLab"},
    });
    apply(&spaces, "team", &space).await;
    wait_for(&spaces, "team", "Ready", |sp: &SharedSpace| {
        sp.status
            .as_ref()
            .filter(|st| has(&st.conditions, "Ready", "True"))
            .map(|_| ())
    })
    .await;
    wait_kstatus("sharedspace/team", &ns, "Current").await;

    let guardrails: Api<Guardrail> = Api::all(s.client.clone());
    let name = format!("{ns}-gitops");
    let guardrail = json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "Guardrail",
        "metadata": {"name": name, "labels": {GUARDRAIL_LABEL: ns}},
        "spec": {"selector": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}},
    });
    apply(&guardrails, &name, &guardrail).await;
    wait_kstatus(&format!("guardrail/{name}"), &ns, "Current").await;
    guardrails.delete(&name, &Default::default()).await.unwrap();
}
