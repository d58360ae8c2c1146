//! Operation tables: which handler serves each SageMaker and KMS operation.

use serde_json::Value;

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::kms;
use crate::state::{Scope, State, app, app_image_config, domain, image, lcc, profile, space, tags};

/// Runs one SageMaker operation against already-ticked state.
pub fn sagemaker(state: &mut State, scope: &Scope, now: Millis, op: &str, body: &Value) -> ApiResult<Value> {
    match op {
        "CreateDomain" => domain::create(state, scope, now, body),
        "DescribeDomain" => domain::describe(state, scope, body),
        "UpdateDomain" => domain::update(state, scope, now, body),
        "DeleteDomain" => domain::delete(state, scope, now, body),
        "ListDomains" => domain::list(state, scope, body),
        "CreateUserProfile" => profile::create(state, scope, now, body),
        "DescribeUserProfile" => profile::describe(state, scope, body),
        "UpdateUserProfile" => profile::update(state, scope, now, body),
        "DeleteUserProfile" => profile::delete(state, scope, now, body),
        "ListUserProfiles" => profile::list(state, scope, body),
        "CreateSpace" => space::create(state, scope, now, body),
        "DescribeSpace" => space::describe(state, scope, body),
        "UpdateSpace" => space::update(state, scope, now, body),
        "DeleteSpace" => space::delete(state, scope, now, body),
        "ListSpaces" => space::list(state, scope, body),
        "CreateApp" => app::create(state, scope, now, body),
        "DescribeApp" => app::describe(state, scope, now, body),
        "DeleteApp" => app::delete(state, scope, now, body),
        "ListApps" => app::list(state, scope, body),
        "AddTags" => tags::add_tags(state, scope, body),
        "ListTags" => tags::list_tags(state, scope, body),
        "DeleteTags" => tags::delete_tags(state, scope, body),
        "CreateStudioLifecycleConfig" => lcc::create(state, scope, now, body),
        "DescribeStudioLifecycleConfig" => lcc::describe(state, scope, body),
        "DeleteStudioLifecycleConfig" => lcc::delete(state, scope, body),
        "ListStudioLifecycleConfigs" => lcc::list(state, scope, body),
        "CreateImage" => image::create_image(state, scope, now, body),
        "DescribeImage" => image::describe_image(state, scope, body),
        "UpdateImage" => image::update_image(state, scope, now, body),
        "DeleteImage" => image::delete_image(state, scope, now, body),
        "ListImages" => image::list_images(state, scope, body),
        "CreateImageVersion" => image::create_image_version(state, scope, now, body),
        "DescribeImageVersion" => image::describe_image_version(state, scope, body),
        "UpdateImageVersion" => image::update_image_version(state, scope, now, body),
        "DeleteImageVersion" => image::delete_image_version(state, scope, now, body),
        "ListImageVersions" => image::list_image_versions(state, scope, body),
        "ListAliases" => image::list_aliases(state, scope, body),
        "CreateAppImageConfig" => app_image_config::create(state, scope, now, body),
        "DescribeAppImageConfig" => app_image_config::describe(state, scope, body),
        "UpdateAppImageConfig" => app_image_config::update(state, scope, now, body),
        "DeleteAppImageConfig" => app_image_config::delete(state, scope, body),
        "ListAppImageConfigs" => app_image_config::list(state, scope, body),
        other => Err(ApiError::unknown_operation(&format!("SageMaker.{other}"))),
    }
}

/// Runs one KMS operation.
pub fn kms(state: &mut State, scope: &Scope, now: Millis, op: &str, body: &Value) -> ApiResult<Value> {
    match op {
        "CreateKey" => kms::create_key(state, scope, now, body),
        "DescribeKey" => kms::describe_key(state, scope, now, body),
        "ListKeys" => kms::list_keys(state, scope, body),
        "CreateAlias" => kms::create_alias(state, scope, now, body),
        "ListAliases" => kms::list_aliases(state, scope, body),
        "UpdateAlias" => kms::update_alias(state, scope, now, body),
        "DeleteAlias" => kms::delete_alias(state, scope, body),
        "EnableKey" => kms::enable_key(state, scope, true, body),
        "DisableKey" => kms::enable_key(state, scope, false, body),
        "ScheduleKeyDeletion" => kms::schedule_key_deletion(state, scope, now, body),
        other => Err(ApiError::unknown_operation(&format!("TrentService.{other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn every_operation_of_the_model_extract_is_served() {
        let mut state = State::new(&Config::default());
        for op in crate::model::operations() {
            let answer = sagemaker(&mut state, &Scope::default(), 0, op, &Value::Null);
            assert!(
                answer.err().is_none_or(|e| e.code != "UnknownOperationException"),
                "{op} is in model/sagemaker.json but not served"
            );
        }
    }
}
