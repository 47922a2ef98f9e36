//! Running synchronous use cases off the async workers.

use crate::envelope::ApiError;
use actix_web::web;
use roomwarden_domain::error::DomainError;

/// Runs a use case on actix's blocking pool and maps its outcome to an [`ApiError`].
///
/// # Errors
/// The use case's error; `500` if the blocking pool is gone or the closure panicked.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, DomainError> + Send + 'static,
    T: Send + 'static,
{
    match web::block(f).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "use case did not complete on the blocking pool");
            Err(ApiError::internal())
        }
    }
}
