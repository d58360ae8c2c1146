//! KMS keys and aliases, and domains that fail asynchronously on unusable keys.

use aws_emulator::Scope;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn kms_keys_aliases_and_domain_failure() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    let meta = c
        .kms
        .create_key()
        .description("studio")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .cloned()
        .unwrap();
    let key_id = meta.key_id().to_string();
    let key_arn = meta.arn().unwrap().to_string();
    assert_eq!(key_arn, format!("arn:aws:kms:us-east-1:123456789012:key/{key_id}"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.key_manager().map(|m| m.as_str()), Some("CUSTOMER"));
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.multi_region(), Some(false));
    assert!(meta.creation_date().is_some());

    c.kms
        .create_alias()
        .alias_name("alias/studio")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let err = c
        .kms
        .create_alias()
        .alias_name("alias/studio")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_already_exists_exception(), "{err:?}");
    for reference in [
        key_id.clone(),
        key_arn.clone(),
        "alias/studio".into(),
        "arn:aws:kms:us-east-1:123456789012:alias/studio".into(),
    ] {
        let m = c.kms.describe_key().key_id(&reference).send().await.unwrap();
        assert_eq!(m.key_metadata().unwrap().key_id(), key_id, "{reference}");
    }
    let err = c
        .kms
        .describe_key()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    let err = c
        .kms
        .describe_key()
        .key_id("arn:aws:kms:nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_arn_exception(), "{err:?}");

    let rsa = c
        .kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    assert_eq!(rsa.key_metadata().unwrap().key_spec(), Some(&KeySpec::Rsa2048));
    let err = c
        .kms
        .create_key()
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    let keys = c.kms.list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 2);
    let aliases = c.kms.list_aliases().key_id(&key_id).send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    assert_eq!(aliases.aliases()[0].target_key_id(), Some(key_id.as_str()));

    // AWS-managed keys, via the control API and by describing a predefined alias.
    let managed = emu.create_aws_managed_key(&Scope::default(), "alias/aws/sagemaker");
    assert_eq!(managed["KeyManager"], "AWS");
    let m = c.kms.describe_key().key_id("alias/aws/sagemaker").send().await.unwrap();
    assert_eq!(m.key_metadata().unwrap().key_manager().map(|m| m.as_str()), Some("AWS"));

    // A disabled key makes the domain fail asynchronously; KmsKeyId is echoed as sent.
    c.kms.disable_key().key_id("alias/studio").send().await.unwrap();
    let d = create_domain(&c.sm, "encrypted")
        .kms_key_id("alias/studio")
        .send()
        .await
        .unwrap();
    let id = d.domain_id().unwrap();
    let desc = c.sm.describe_domain().domain_id(id).send().await.unwrap();
    assert_eq!(desc.status(), Some(&DomainStatus::Failed));
    assert_eq!(desc.kms_key_id(), Some("alias/studio"));
    assert_eq!(
        desc.failure_reason(),
        Some(
            format!("Unable to create Amazon EFS for domain '{id}' because KMS key 'alias/studio' is disabled.")
                .as_str()
        )
    );
    let d = create_domain(&c.sm, "missing-key")
        .kms_key_id("alias/none")
        .send()
        .await
        .unwrap();
    let desc =
        c.sm.describe_domain()
            .domain_id(d.domain_id().unwrap())
            .send()
            .await
            .unwrap();
    assert!(
        desc.failure_reason()
            .unwrap()
            .ends_with("because KMS key 'alias/none' does not exist.")
    );

    // Enabled key: InService.
    c.kms.enable_key().key_id(&key_id).send().await.unwrap();
    let d = create_domain(&c.sm, "good-key")
        .kms_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        domain_status(&c.sm, d.domain_id().unwrap()).await,
        DomainStatus::InService
    );

    // Pending deletion.
    let del = c
        .kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(del.key_state(), Some(&KeyState::PendingDeletion));
    let m = c.kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert!(m.key_metadata().unwrap().deletion_date().is_some());
    let err = c
        .kms
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_kms_invalid_state_exception(), "{err:?}");
    emu.advance(7.0 * 86_400.0 + 1.0);
    let err = c
        .kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn aliases_are_retargeted_and_deleted() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let key = |description: &'static str| {
        let kms = c.kms.clone();
        async move {
            kms.create_key()
                .description(description)
                .send()
                .await
                .unwrap()
                .key_metadata()
                .unwrap()
                .key_id()
                .to_string()
        }
    };
    let (old, new) = (key("old").await, key("new").await);
    let err = c
        .kms
        .update_alias()
        .alias_name("alias/studio")
        .target_key_id(&new)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    c.kms
        .create_alias()
        .alias_name("alias/studio")
        .target_key_id(&old)
        .send()
        .await
        .unwrap();
    emu.advance(60.0);
    c.kms
        .update_alias()
        .alias_name("alias/studio")
        .target_key_id(format!("arn:aws:kms:us-east-1:123456789012:key/{new}"))
        .send()
        .await
        .unwrap();
    let described = c.kms.describe_key().key_id("alias/studio").send().await.unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), new);
    let listed = c.kms.list_aliases().send().await.unwrap();
    let alias = &listed.aliases()[0];
    assert_eq!(alias.target_key_id(), Some(new.as_str()));
    let (created, updated) = (
        alias.creation_date().unwrap().secs(),
        alias.last_updated_date().unwrap().secs(),
    );
    assert!(updated >= created + 60, "{created} {updated}");
    assert!(
        c.kms
            .list_aliases()
            .key_id(&old)
            .send()
            .await
            .unwrap()
            .aliases()
            .is_empty()
    );

    // The real API's rules: an alias name, never an alias as target, same key class,
    // no AWS managed key, no key pending deletion, no key of another account.
    let update = |target: String| c.kms.update_alias().alias_name("alias/studio").target_key_id(target);
    let err = update("alias/other".into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    let rsa = c
        .kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let err = update(rsa.key_metadata().unwrap().key_id().into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    let managed = emu.create_aws_managed_key(&Scope::default(), "alias/aws/sagemaker");
    let err = update(managed["KeyId"].as_str().unwrap().into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    let err = c
        .kms
        .update_alias()
        .alias_name("alias/aws/sagemaker")
        .target_key_id(&old)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    c.kms
        .schedule_key_deletion()
        .key_id(&old)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let err = update(old.clone()).send().await.unwrap_err().into_service_error();
    assert!(err.is_kms_invalid_state_exception(), "{err:?}");
    let err = update("arn:aws:kms:us-east-1:210987654321:key/11111111-2222-4333-a444-555555555555".into())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");

    c.kms.delete_alias().alias_name("alias/studio").send().await.unwrap();
    let err = c
        .kms
        .describe_key()
        .key_id("alias/studio")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    let err = c
        .kms
        .delete_alias()
        .alias_name("alias/studio")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    let names: Vec<String> = c
        .kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name().map(String::from))
        .collect();
    assert_eq!(names, ["alias/aws/sagemaker"]);
}
