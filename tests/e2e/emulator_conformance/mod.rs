//! Conformance of the AWS emulator (hack/aws-emulator) with the real services'
//! wire behaviour, driven through the real aws-sdk-sagemaker, aws-sdk-kms,
//! aws-sdk-sts and aws-sdk-s3 clients: typed errors, retries, paginators,
//! account isolation and status lifecycles under the emulated clock. One file per
//! concern; the helpers they share (emulator start-up, SDK clients, request
//! builders) are here.

mod apps;
mod control;
mod faults;
mod images;
mod kms;
mod lifecycle_configs;
mod members;
mod pagination;
mod s3;
mod sagemaker_domains;
mod storage;
mod sts;
mod tagging;
mod update_merge;
mod wire;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_emulator::{Config, Delays, Emulator};
use aws_sdk_sagemaker::types::{
    AppType, AuthMode, DomainStatus, OwnershipSettings, SharingType, SpaceSettings, SpaceSharingSettings, Tag,
    UserSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/StudioExecution";
const OTHER_ACCOUNT: &str = "210987654321";

/// Delays of zero make transitions visible on the next call.
fn instant() -> Config {
    Config {
        delays: Delays::uniform(0.0),
        ..Config::default()
    }
}

async fn sdk_config(emu: &Emulator, access_key: &str, secret: &str, token: Option<String>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, token, None, "conformance"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

struct Clients {
    sm: aws_sdk_sagemaker::Client,
    kms: aws_sdk_kms::Client,
    sts: aws_sdk_sts::Client,
}

async fn clients(emu: &Emulator) -> Clients {
    let conf = sdk_config(emu, "AKIATESTTESTTEST", "test", None).await;
    Clients {
        sm: aws_sdk_sagemaker::Client::new(&conf),
        kms: aws_sdk_kms::Client::new(&conf),
        sts: aws_sdk_sts::Client::new(&conf),
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// CreateDomain with the members the emulator requires.
fn create_domain(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
) -> aws_sdk_sagemaker::operation::create_domain::builders::CreateDomainFluentBuilder {
    sm.create_domain()
        .domain_name(name)
        .auth_mode(AuthMode::Iam)
        .default_user_settings(UserSettings::builder().execution_role(ROLE).build())
        .vpc_id("vpc-0123456789abcdef0")
        .subnet_ids("subnet-0a")
        .subnet_ids("subnet-0b")
}

async fn domain_status(sm: &aws_sdk_sagemaker::Client, id: &str) -> DomainStatus {
    sm.describe_domain()
        .domain_id(id)
        .send()
        .await
        .expect("describe")
        .status()
        .cloned()
        .expect("status")
}

/// A domain "apps" tagged `cost-center=42` with the profile "Alice" (tagged `owner=alice`) and
/// her private JupyterLab space "alice-lab", all InService (instant delays). Returns the domain
/// id and the profile ARN.
async fn domain_with_alice_and_her_space(c: &Clients) -> (String, String) {
    let id = create_domain(&c.sm, "apps")
        .tags(tag("cost-center", "42"))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    let arn =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("Alice")
            .tags(tag("owner", "alice"))
            .send()
            .await
            .unwrap()
            .user_profile_arn()
            .unwrap()
            .to_string();
    c.sm.create_space()
        .domain_id(&id)
        .space_name("alice-lab")
        .space_settings(SpaceSettings::builder().app_type(AppType::JupyterLab).build())
        .ownership_settings(OwnershipSettings::builder().owner_user_profile_name("Alice").build())
        .space_sharing_settings(
            SpaceSharingSettings::builder()
                .sharing_type(SharingType::Private)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (id, arn)
}

/// Sends one raw HTTP/1.1 request and returns the whole response text.
async fn raw_http(emu: &Emulator, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}
