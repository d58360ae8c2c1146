//! The SageMaker tag API (AddTags, ListTags, DeleteTags).

use aws_sdk_sagemaker::error::ProvideErrorMetadata;

use super::*;

#[tokio::test]
async fn tags_api_adds_deletes_and_pages() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let (_, arn) = domain_with_alice_and_her_space(&c).await;

    // Tags API.
    c.sm.add_tags()
        .resource_arn(&arn)
        .tags(tag("extra", "1"))
        .send()
        .await
        .unwrap();
    c.sm.delete_tags()
        .resource_arn(&arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let t = c.sm.list_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(t.tags().iter().filter_map(|t| t.key()).collect::<Vec<_>>(), ["extra"]);
    let err =
        c.sm.list_tags()
            .resource_arn(&arn)
            .max_results(10)
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
}
