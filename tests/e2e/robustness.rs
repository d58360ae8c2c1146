//! Robustness end to end: a reconcile that panics is contained to its object, and an AWS error
//! only a person can resolve stalls the resource (kstatus Failed) instead of retrying for ever.

use std::sync::Arc;

use aws_emulator::Quotas;
use kube::Api;
use studio_operator::api::UserProfile;
use studio_operator::controller::PanicOn;

use crate::domain::{Setup, domain_manifest, setup};
use crate::profile::{apply, profile_manifest, ready_domain, wait_for, wait_profile};
use crate::support::operator::scrape;
use crate::support::wait::condition;
use crate::support::{TestEnv, TestNamespace, TestOperator};

#[tokio::test]
async fn a_reconcile_that_panics_is_contained_reported_and_counted() {
    let client = TestEnv::get().client().await;
    let namespace = TestNamespace::new(&client, "panic").await;
    let operator = TestOperator::start_tuned(&client, &namespace.name, |config| {
        config.panic_on = Some(PanicOn(Arc::new(|obj| obj.name == "boom")));
    })
    .await;
    let s = Setup::new(client, namespace, operator);
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "boom", &profile_manifest("boom", "platform")).await;
    apply(&profiles, "calm", &profile_manifest("calm", "platform")).await;
    wait_profile(&profiles, "calm", "Ready", "True").await;
    let ready = wait_for(&profiles, "boom", "Ready=False InternalError", |p| {
        let status = p.status.as_ref()?;
        condition(&status.conditions, "Ready")
            .filter(|c| c.status == "False" && c.reason == "InternalError")
            .cloned()
    })
    .await;
    assert!(
        ready.message.contains("the operator panicked: fault injection"),
        "{}",
        ready.message
    );
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_reconcile_panics_total{kind=\"UserProfile\"}"),
        "{metrics}"
    );
    // The controller goes on: a profile created after the panics becomes Ready, and the replica
    // stays ready.
    apply(&profiles, "later", &profile_manifest("later", "platform")).await;
    wait_profile(&profiles, "later", "Ready", "True").await;
    let (code, _) = scrape(s.operator.metrics_addr, "/readyz").await.unwrap();
    assert_eq!(code, 200);
}

#[tokio::test]
async fn an_error_only_a_person_can_resolve_stalls_the_resource_until_it_is_resolved() {
    let s = setup("stall").await;
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let quotas = s.control().quotas();
    s.control().set_quotas(Quotas {
        user_profiles: 0,
        ..quotas.clone()
    });
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    let stalled = wait_profile(&profiles, "alice", "Stalled", "True").await;
    let stalled = condition(&stalled.conditions, "Stalled").unwrap().clone();
    assert_eq!(stalled.reason, "AwsLimitExceeded");
    assert!(
        stalled.message.contains("Maximum number of Studio user profiles"),
        "the AWS message is in the condition: {}",
        stalled.message
    );
    let (verdict, _) = TestEnv::get().kstatus("userprofile/alice", &s.namespace.name);
    assert_eq!(verdict, "Failed", "Argo CD and Flux see it failed, not progressing");
    // Raising the quota (a person's change outside the cluster) is picked up at the resync.
    s.control().set_quotas(quotas);
    wait_profile(&profiles, "alice", "Ready", "True").await;
}
