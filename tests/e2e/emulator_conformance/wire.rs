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
