//! SDK paginators, list filters and sorting.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn sdk_paginators_walk_every_page() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let id = create_domain(&c.sm, "many")
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    for i in 0..25 {
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name(format!("user-{i:02}"))
            .send()
            .await
            .unwrap();
    }
    let mut pages =
        c.sm.list_user_profiles()
            .domain_id_equals(&id)
            .max_results(10)
            .into_paginator()
            .send();
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        sizes.push(page.user_profiles().len());
        names.extend(
            page.user_profiles()
                .iter()
                .filter_map(|p| p.user_profile_name().map(String::from)),
        );
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(names.first().map(String::as_str), Some("user-00"));
    assert_eq!(names.len(), 25);

    let filtered =
        c.sm.list_user_profiles()
            .user_profile_name_contains("user-1")
            .sort_order(aws_sdk_sagemaker::types::SortOrder::Descending)
            .send()
            .await
            .unwrap();
    assert_eq!(filtered.user_profiles().len(), 10);
    assert_eq!(filtered.user_profiles()[0].user_profile_name(), Some("user-19"));

    for i in 0..3 {
        c.sm.create_space()
            .domain_id(&id)
            .space_name(format!("shared-{i}"))
            .send()
            .await
            .unwrap();
    }
    let spaces: Vec<_> =
        c.sm.list_spaces()
            .max_results(1)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
    assert_eq!(spaces.len(), 3);

    let err = c.sm.list_domains().max_results(0).send().await.unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
    let err = c.sm.list_domains().next_token("garbage").send().await.unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
}
