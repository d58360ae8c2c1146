//! Space storage: the EBS size a JupyterLab or Code Editor space gets (requested, or the
//! configured default, 5 GB otherwise), its limits, and the EBS registry that records when a
//! space's volume is deleted.

use aws_emulator::{ResourceRef, Scope};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    DefaultEbsStorageSettings, DefaultSpaceSettings, DefaultSpaceStorageSettings, EbsStorageSettings,
    SpaceStorageSettings,
};

use super::*;

fn storage_defaults(default: i32, maximum: i32) -> DefaultSpaceStorageSettings {
    DefaultSpaceStorageSettings::builder()
        .default_ebs_storage_settings(
            DefaultEbsStorageSettings::builder()
                .default_ebs_volume_size_in_gb(default)
                .maximum_ebs_volume_size_in_gb(maximum)
                .build(),
        )
        .build()
}

fn sized(app: AppType, gb: Option<i32>) -> SpaceSettings {
    let mut settings = SpaceSettings::builder().app_type(app);
    if let Some(gb) = gb {
        settings = settings.space_storage_settings(
            SpaceStorageSettings::builder()
                .ebs_storage_settings(EbsStorageSettings::builder().ebs_volume_size_in_gb(gb).build())
                .build(),
        );
    }
    settings.build()
}

async fn create_space(
    c: &Clients,
    domain: &str,
    name: &str,
    owner: &str,
    sharing: SharingType,
    settings: SpaceSettings,
) -> Result<(), String> {
    c.sm.create_space()
        .domain_id(domain)
        .space_name(name)
        .space_settings(settings)
        .ownership_settings(OwnershipSettings::builder().owner_user_profile_name(owner).build())
        .space_sharing_settings(SpaceSharingSettings::builder().sharing_type(sharing).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| e.into_service_error().message().unwrap_or_default().to_string())
}

async fn ebs_size(c: &Clients, domain: &str, space: &str) -> Option<i32> {
    c.sm.describe_space()
        .domain_id(domain)
        .space_name(space)
        .send()
        .await
        .unwrap()
        .space_settings()
        .and_then(|s| s.space_storage_settings())
        .and_then(|s| s.ebs_storage_settings())
        .and_then(|e| e.ebs_volume_size_in_gb())
}

#[tokio::test]
async fn space_storage_defaults_limits_and_the_ebs_registry() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let id = create_domain(&c.sm, "storage")
        .default_user_settings(
            UserSettings::builder()
                .execution_role(ROLE)
                .space_storage_settings(storage_defaults(10, 50))
                .build(),
        )
        .default_space_settings(
            DefaultSpaceSettings::builder()
                .execution_role(ROLE)
                .space_storage_settings(storage_defaults(20, 100))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    for (name, settings) in [
        ("alice", UserSettings::builder().build()),
        (
            "bob",
            UserSettings::builder()
                .space_storage_settings(storage_defaults(15, 30))
                .build(),
        ),
    ] {
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name(name)
            .user_settings(settings)
            .send()
            .await
            .unwrap();
    }

    // Defaults: the owner's for a private space, the domain's space defaults for a shared one,
    // then the domain's user defaults.
    let private = SharingType::Private;
    create_space(
        &c,
        &id,
        "alice-lab",
        "alice",
        private.clone(),
        sized(AppType::JupyterLab, None),
    )
    .await
    .unwrap();
    create_space(
        &c,
        &id,
        "bob-code",
        "bob",
        private.clone(),
        sized(AppType::CodeEditor, None),
    )
    .await
    .unwrap();
    create_space(
        &c,
        &id,
        "team",
        "alice",
        SharingType::Shared,
        sized(AppType::JupyterLab, None),
    )
    .await
    .unwrap();
    assert_eq!(ebs_size(&c, &id, "alice-lab").await, Some(10));
    assert_eq!(ebs_size(&c, &id, "bob-code").await, Some(15));
    assert_eq!(ebs_size(&c, &id, "team").await, Some(20));
    let too_big = create_space(
        &c,
        &id,
        "bob-big",
        "bob",
        private.clone(),
        sized(AppType::JupyterLab, Some(40)),
    )
    .await
    .unwrap_err();
    assert!(
        too_big.contains("exceeds the maximum EBS volume size of 30 GB"),
        "{too_big}"
    );
    c.sm.create_space()
        .domain_id(&id)
        .space_name("classic")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ebs_size(&c, &id, "classic").await,
        None,
        "no EBS without JupyterLab or Code Editor"
    );

    let listed = c.sm.list_spaces().domain_id_equals(&id).send().await.unwrap();
    let summary = listed
        .spaces()
        .iter()
        .find(|s| s.space_name() == Some("team"))
        .and_then(|s| s.space_settings_summary())
        .and_then(|s| s.space_storage_settings())
        .and_then(|s| s.ebs_storage_settings())
        .and_then(|e| e.ebs_volume_size_in_gb());
    assert_eq!(summary, Some(20));

    // Volumes only grow, and not beyond the maximum.
    let resize = |gb: i32| {
        c.sm.update_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .space_settings(
                SpaceSettings::builder()
                    .space_storage_settings(
                        SpaceStorageSettings::builder()
                            .ebs_storage_settings(EbsStorageSettings::builder().ebs_volume_size_in_gb(gb).build())
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    resize(25).await.unwrap();
    assert_eq!(ebs_size(&c, &id, "alice-lab").await, Some(25));
    let err = resize(8).await.unwrap_err().into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("can only grow"), "{:?}", err.message());
    let err = resize(60).await.unwrap_err().into_service_error();
    assert!(
        err.message().unwrap().contains("maximum EBS volume size of 50 GB"),
        "{:?}",
        err.message()
    );

    // A default above the maximum is refused.
    let err =
        c.sm.update_domain()
            .domain_id(&id)
            .default_user_settings(
                UserSettings::builder()
                    .space_storage_settings(storage_defaults(60, 50))
                    .build(),
            )
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));

    // The registry: one volume per space with EBS, deletion recorded by every path.
    let volumes = emu.ebs_volumes();
    let live: Vec<(&str, i64)> = volumes.iter().map(|v| (v.space_name.as_str(), v.size_in_gb)).collect();
    assert_eq!(live, [("alice-lab", 25), ("bob-code", 15), ("team", 20)]);
    assert!(volumes.iter().all(|v| v.domain_id == id && v.deleted_at.is_none()));
    assert!(
        volumes
            .iter()
            .all(|v| v.volume_id.starts_with("vol-") && v.created > 0.0)
    );

    emu.advance(30.0);
    c.sm.delete_space()
        .domain_id(&id)
        .space_name("team")
        .send()
        .await
        .unwrap();
    c.sm.list_spaces().send().await.unwrap(); // the deletion completes (no delay)
    let deleted_at = |space: &str| {
        emu.ebs_volumes()
            .into_iter()
            .find(|v| v.space_name == space)
            .and_then(|v| v.deleted_at)
    };
    let team = deleted_at("team").expect("deleted with its space");
    assert!((team - emu.now()).abs() < 2.0);
    assert_eq!(deleted_at("bob-code"), None);

    // Deleting the owner behind the back removes the private spaces it owns, volumes included.
    emu.delete(
        &Scope::default(),
        &ResourceRef::UserProfile {
            domain_id: id.clone(),
            user_profile_name: "bob".into(),
        },
    )
    .unwrap();
    assert!(deleted_at("bob-code").is_some());
    let err =
        c.sm.describe_space()
            .domain_id(&id)
            .space_name("bob-code")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
    assert_eq!(deleted_at("alice-lab"), None);
    emu.delete(&Scope::default(), &ResourceRef::Domain { domain_id: id.clone() })
        .unwrap();
    assert!(emu.ebs_volumes().iter().all(|v| v.deleted_at.is_some()));

    // Without configured defaults a space gets 5 GB.
    let plain = create_domain(&c.sm, "plain")
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    c.sm.create_user_profile()
        .domain_id(&plain)
        .user_profile_name("carol")
        .send()
        .await
        .unwrap();
    create_space(
        &c,
        &plain,
        "carol-lab",
        "carol",
        private,
        sized(AppType::JupyterLab, None),
    )
    .await
    .unwrap();
    assert_eq!(ebs_size(&c, &plain, "carol-lab").await, Some(5));
}
