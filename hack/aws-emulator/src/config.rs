//! Start-up configuration: transition delays, quotas and identity defaults.
//!
//! Everything here can also be changed at run time through the control API;
//! `reset` returns to the values the emulator was started with.

use serde::{Deserialize, Serialize};

/// The account used for every access key that was not issued by the emulator's STS.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Emulated-time delays (seconds) of the asynchronous status transitions.
///
/// Defaults are small but nonzero so that callers must really poll; 0 makes a
/// transition visible on the very next call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct Delays {
    pub domain_create: f64,
    pub domain_update: f64,
    pub domain_delete: f64,
    pub profile_create: f64,
    pub profile_update: f64,
    pub profile_delete: f64,
    pub space_create: f64,
    pub space_update: f64,
    pub space_delete: f64,
    pub app_create: f64,
    pub app_delete: f64,
    pub image_create: f64,
    pub image_update: f64,
    pub image_delete: f64,
    pub image_version_create: f64,
    pub image_version_delete: f64,
    /// How often emulated health checks refresh an app's activity timestamps.
    pub health_check_interval: f64,
    /// How long a `Deleted` app stays visible (the service keeps metadata 24 h).
    pub deleted_app_retention: f64,
}

impl Delays {
    /// Every create, update and delete transition takes `seconds`; health checks and the
    /// retention of deleted apps keep their defaults. `uniform(0.0)` makes transitions visible
    /// on the next call.
    pub fn uniform(seconds: f64) -> Self {
        Self {
            domain_create: seconds,
            domain_update: seconds,
            domain_delete: seconds,
            profile_create: seconds,
            profile_update: seconds,
            profile_delete: seconds,
            space_create: seconds,
            space_update: seconds,
            space_delete: seconds,
            app_create: seconds,
            app_delete: seconds,
            image_create: seconds,
            image_update: seconds,
            image_delete: seconds,
            image_version_create: seconds,
            image_version_delete: seconds,
            ..Self::default()
        }
    }
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            domain_create: 2.0,
            domain_update: 1.0,
            domain_delete: 1.0,
            profile_create: 1.0,
            profile_update: 1.0,
            profile_delete: 1.0,
            space_create: 1.0,
            space_update: 1.0,
            space_delete: 1.0,
            app_create: 1.0,
            app_delete: 1.0,
            image_create: 1.0,
            image_update: 1.0,
            image_delete: 1.0,
            image_version_create: 1.0,
            image_version_delete: 1.0,
            health_check_interval: 300.0,
            deleted_app_retention: 86_400.0,
        }
    }
}

/// Service quotas, counted per account and region (Service Quotas are regional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct Quotas {
    pub domains: usize,
    pub user_profiles: usize,
    pub spaces: usize,
    /// Apps that are Pending or InService.
    pub running_apps: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            domains: 10,
            user_profiles: 1000,
            spaces: 1000,
            running_apps: 1000,
        }
    }
}

/// Emulator configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case")]
pub struct Config {
    /// Address to bind; loopback by default.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    pub delays: Delays,
    pub quotas: Quotas,
    /// Account for ordinary (non-emulator-issued) access keys.
    pub default_account: String,
    /// Seed of the generator behind ids and probabilistic faults.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            delays: Delays::default(),
            quotas: Quotas::default(),
            default_account: DEFAULT_ACCOUNT.into(),
            seed: 0,
        }
    }
}
