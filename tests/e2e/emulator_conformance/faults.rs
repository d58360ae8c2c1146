//! Injected faults, rate limits and quotas as the SDK's retry logic sees them.

use aws_emulator::{FaultKind, FaultRule, Quotas, RateLimit};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn sdk_retries_recover_from_throttling_and_faults() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    emu.inject_fault(FaultRule {
        target: "ListDomains".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(2),
        delay_ms: None,
    });
    c.sm.list_domains().send().await.expect("standard retry recovers");
    let counts = emu.call_counts();
    assert_eq!(counts["ListDomains"]["ThrottlingException"], 2);
    assert_eq!(counts["ListDomains"]["ok"], 1);
    assert_eq!(emu.calls().len(), 3);

    emu.clear_calls();
    emu.inject_fault(FaultRule {
        target: "read".into(),
        kind: FaultKind::InternalFailure,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    emu.inject_fault(FaultRule {
        target: "kms".into(),
        kind: FaultKind::ServiceUnavailable,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    c.sm.list_apps().send().await.expect("retried after 500");
    c.kms.list_keys().send().await.expect("retried after 503");
    assert_eq!(emu.count("ListApps", Some("InternalFailure")), 1);
    assert_eq!(emu.count("ListKeys", Some("ServiceUnavailable")), 1);

    emu.inject_fault(FaultRule {
        target: "DescribeKey".into(),
        kind: FaultKind::DropConnection,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    let err = c
        .kms
        .describe_key()
        .key_id("alias/none")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.is_not_found_exception(),
        "answered after the dropped attempt: {err:?}"
    );
    assert_eq!(emu.count("DescribeKey", Some("dropped")), 1);

    // Throttling beyond the retry budget surfaces as ThrottlingException.
    emu.add_rate_limit(RateLimit {
        target: "mutating".into(),
        rate_per_sec: 0.001,
        burst: 1.0,
    });
    c.sm.create_user_profile()
        .domain_id("d-nothere00000")
        .user_profile_name("x")
        .send()
        .await
        .unwrap_err();
    let err =
        c.sm.create_user_profile()
            .domain_id("d-nothere00000")
            .user_profile_name("x")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ThrottlingException"));
    let throttled = emu
        .calls()
        .into_iter()
        .filter(|r| r.outcome == "ThrottlingException")
        .count();
    assert_eq!(throttled, 3, "one call, three attempts");
    emu.clear_rate_limits();

    // Quotas.
    emu.set_quotas(Quotas {
        domains: 1,
        ..Quotas::default()
    });
    create_domain(&c.sm, "one").send().await.unwrap();
    let err = create_domain(&c.sm, "two")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_limit_exceeded(), "{err:?}");
}
