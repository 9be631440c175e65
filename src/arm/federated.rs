//! The client assertion of workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`,
//! `AZURE_FEDERATED_TOKEN`) for azure_identity's `ClientAssertionCredential`. moat reads the file
//! itself rather than use 1.x's `WorkloadIdentityCredential`, which caches the file for ten
//! minutes and reads it with no size or type check.

use std::path::PathBuf;

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::error::{Error, ErrorKind};
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;

/// Largest federated token file read (`AZURE_FEDERATED_TOKEN_FILE`): 64 KiB; a projected
/// service-account token or an OIDC token is one JWT of a few KiB.
pub const MAX_FEDERATED_TOKEN_BYTES: u64 = 64 * 1024;

/// The client assertion of workload identity federation.
#[derive(Debug)]
pub enum Assertion {
    /// `AZURE_FEDERATED_TOKEN_FILE`, read each time a token is requested (the platform rotates
    /// it), as a regular file of at most [`MAX_FEDERATED_TOKEN_BYTES`].
    File(PathBuf),
    /// `AZURE_FEDERATED_TOKEN`.
    Token(Secret),
}

#[async_trait]
impl ClientAssertion for Assertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let path = match self {
            Assertion::Token(t) => return Ok(t.secret().to_string()),
            Assertion::File(path) => path.clone(),
        };
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                crate::blueprint::read_bounded(&path, MAX_FEDERATED_TOKEN_BYTES)
            })
        };
        let text = read
            .await
            .map_err(|e| Error::with_error(ErrorKind::Io, e, "reading the federated token"))?
            .map_err(|e| {
                Error::with_message(
                    ErrorKind::Credential,
                    format!(
                        "cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                        path.display()
                    ),
                )
            })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(Error::with_message(
                ErrorKind::Credential,
                format!("AZURE_FEDERATED_TOKEN_FILE {} is empty", path.display()),
            ));
        }
        crate::sanitize::register_secret(token);
        Ok(token.to_string())
    }
}
