//! The Studio UI lined up with the guardrails: what enforcing guardrails forbid is hidden from
//! users (`StudioWebPortalSettings.HiddenInstanceTypes` and `HiddenAppTypes`), so they do not see
//! what they may not launch. Pure; the settings are applied in `controller::desired`.

use std::collections::BTreeSet;

use super::rules::{app_type_allowed, instance_type_allowed};
use crate::api::{AppInstanceType, AppType, Enforcement, Guardrail};

/// What the Studio UI must hide for a domain's guardrails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UiRestrictions {
    /// Instance types an enforcing guardrail forbids: the model's instance types minus the
    /// allowed globs (`system` is always allowed).
    pub hidden_instance_types: BTreeSet<AppInstanceType>,
    /// App types an enforcing guardrail forbids.
    pub hidden_app_types: BTreeSet<AppType>,
}

impl UiRestrictions {
    /// What the enforcing guardrails among `guardrails` forbid (auditing ones hide nothing).
    pub fn of(guardrails: &[&Guardrail]) -> Self {
        let mut ui = Self::default();
        for guardrail in guardrails.iter().filter(|g| g.spec.enforcement == Enforcement::Enforce) {
            let rules = &guardrail.spec.rules;
            ui.hidden_instance_types.extend(
                AppInstanceType::ALL
                    .iter()
                    .filter(|t| !instance_type_allowed(rules, t.as_str())),
            );
            ui.hidden_app_types
                .extend(AppType::ALL.iter().filter(|t| !app_type_allowed(rules, t.as_str())));
        }
        ui
    }

    /// Whether nothing is hidden.
    pub fn is_empty(&self) -> bool {
        self.hidden_instance_types.is_empty() && self.hidden_app_types.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn guardrail(spec: serde_json::Value) -> Guardrail {
        serde_json::from_value(json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "Guardrail",
            "metadata": {"name": "g"}, "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn enforcing_guardrails_hide_what_they_forbid() {
        let small = guardrail(
            json!({"rules": {"allowedInstanceTypes": ["ml.t3.*", "ml.m5.large"], "allowedAppTypes": ["JupyterLab", "CodeEditor"]}}),
        );
        let ui = UiRestrictions::of(&[&small]);
        let hidden: Vec<&str> = ui.hidden_instance_types.iter().map(|t| t.as_str()).collect();
        assert!(hidden.contains(&"ml.p4d.24xlarge") && hidden.contains(&"ml.m5.xlarge"));
        assert!(
            !hidden
                .iter()
                .any(|t| t.starts_with("ml.t3.") || *t == "ml.m5.large" || *t == "system")
        );
        assert_eq!(
            hidden.len(),
            AppInstanceType::ALL.len() - 1 - 6 - 1,
            "all but system, the six t3 sizes and m5.large"
        );
        let apps: Vec<&str> = ui.hidden_app_types.iter().map(|t| t.as_str()).collect();
        assert!(apps.contains(&"Canvas") && apps.contains(&"RStudioServerPro"));
        assert!(!apps.contains(&"JupyterLab") && !apps.contains(&"JupyterServer"));
    }

    #[test]
    fn auditing_and_permissive_guardrails_hide_nothing() {
        let audit = guardrail(json!({"enforcement": "Audit", "rules": {"allowedInstanceTypes": ["ml.t3.*"]}}));
        assert!(UiRestrictions::of(&[&audit]).is_empty());
        assert!(UiRestrictions::of(&[&guardrail(json!({}))]).is_empty());
        assert!(UiRestrictions::of(&[]).is_empty());
    }
}
