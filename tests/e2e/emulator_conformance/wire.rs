//! Wire-level details checked with raw HTTP: authentication, error framing, the admin API.

use aws_emulator::{FaultKind, FaultRule};

use super::*;

#[tokio::test]
async fn wire_level_protocol_details() {
    let emu = Emulator::start(instant()).await.unwrap();

    let body = "{}";
    let unsigned = raw_http(&emu, format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )).await;
    assert!(unsigned.starts_with("HTTP/1.1 403"), "{unsigned}");
    assert!(unsigned.contains("MissingAuthenticationTokenException"));
    assert!(unsigned.to_ascii_lowercase().contains("x-amzn-requestid:"));

    emu.inject_fault(FaultRule {
        target: "*".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    let throttled = raw_http(&emu, format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )).await;
    assert!(throttled.starts_with("HTTP/1.1 400"), "{throttled}");
    assert!(
        throttled
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: throttlingexception")
    );
    assert!(
        throttled.ends_with(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
        "{throttled}"
    );

    let admin = raw_http(&emu, "POST /_emulator/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"seconds\": 3.5}".into()).await;
    assert!(admin.starts_with("HTTP/1.1 200"), "{admin}");
    assert!(emu.now() > 3.0);
}

/// Epoch seconds of the `Date` header of a raw HTTP response.
fn date_header(response: &str) -> i64 {
    let line = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("date:"))
        .unwrap_or_else(|| panic!("no Date header in {response}"));
    let text = line["date:".len()..].trim();
    assert!(text.ends_with(" GMT"), "{text}");
    chrono::DateTime::parse_from_rfc2822(text).unwrap().timestamp()
}

#[tokio::test]
async fn date_header_carries_the_emulated_clock_and_its_skew() {
    let emu = Emulator::start(instant()).await.unwrap();
    let list_domains = || {
        let body = "{}";
        raw_http(
            &emu,
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let close_to = |header: i64, want: f64| (header as f64 - want).abs() <= 2.0;

    let answer = list_domains().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(close_to(date_header(&answer), emu.now()));
    emu.advance(86_400.0);
    let answer = list_domains().await;
    assert!(close_to(date_header(&answer), emu.now()), "a day ahead of real time");

    emu.set_date_skew(300.0);
    assert_eq!(emu.date_skew(), 300.0);
    let answer = list_domains().await;
    assert!(answer.starts_with("HTTP/1.1 200"));
    assert!(close_to(date_header(&answer), emu.now() + 300.0));
    let admin = raw_http(
        &emu,
        "GET /_emulator/date-skew HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(admin.ends_with(r#"{"seconds":300.0}"#), "{admin}");
    assert!(
        close_to(date_header(&admin), emu.now() + 300.0),
        "admin answers carry it too"
    );
    let unsigned = raw_http(&emu, "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".into()).await;
    assert!(unsigned.starts_with("HTTP/1.1 403"));
    assert!(
        close_to(date_header(&unsigned), emu.now() + 300.0),
        "errors carry it too"
    );

    let set = raw_http(&emu, "POST /_emulator/date-skew HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{\"seconds\": -120 }".into()).await;
    assert!(set.starts_with("HTTP/1.1 200"), "{set}");
    assert_eq!(emu.date_skew(), -120.0);
    assert!(close_to(date_header(&list_domains().await), emu.now() - 120.0));

    // The SDK keeps working against a skewed server (it corrects its own signing clock).
    let c = clients(&emu).await;
    c.sm.list_domains().send().await.unwrap();
    emu.reset();
    assert_eq!(emu.date_skew(), 0.0);
    assert!(close_to(date_header(&list_domains().await), emu.now()));
}
