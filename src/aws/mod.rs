//! The AWS adapter: the only code that names AWS SDK types. It maps them to [`model`] and
//! every SDK error to [`AwsError`].

pub mod clients;
pub mod clock;
pub mod error;
pub mod kms;
pub mod limiter;
pub mod model;
pub mod s3;
pub mod sagemaker;
pub mod tagging;

pub use clients::{AwsClients, AwsSession, CallObserver, RoleFor};
pub use error::AwsError;
