//! What a failed AWS call means (KMS, Secrets Manager, Parameter Store): the kind of
//! failure and a description that keeps error codes and service messages only, never a raw
//! response.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{ATTEMPT_TIMEOUT, ATTEMPTS};
use crate::remote::{RemoteFailure, error_chain};

/// The credential error behind a failed call, if that is why it failed.
pub(crate) fn credentials_error<E, R>(err: &SdkError<E, R>) -> Option<&CredentialsError>
where
    E: StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

/// Whether a call failed only because the credential chain found no credentials at all.
pub(crate) fn no_credentials<E, R>(err: &SdkError<E, R>) -> bool
where
    E: StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    matches!(
        credentials_error(err),
        Some(CredentialsError::CredentialsNotLoaded(_))
    )
}

/// The kind and a printable description of a failed call. Only error codes, service
/// messages and transport errors are kept: never a raw response.
pub(crate) fn classify<E, R>(err: &SdkError<E, R>) -> (RemoteFailure, String)
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("unknown error");
            let kind = match code {
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredTokenException" => RemoteFailure::Denied,
                "NotFoundException" | "ResourceNotFoundException" | "ParameterNotFound" => {
                    RemoteFailure::NotFound
                }
                "DisabledException" | "KMSInvalidStateException" | "KeyUnavailableException" => {
                    RemoteFailure::Disabled
                }
                "InvalidCiphertextException" | "IncorrectKeyException" => {
                    RemoteFailure::InvalidCiphertext
                }
                "ThrottlingException" | "LimitExceededException" => RemoteFailure::Throttled,
                _ => RemoteFailure::Other,
            };
            let detail = match inner.message() {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            };
            (kind, detail)
        }
        SdkError::TimeoutError(_) => (
            RemoteFailure::Unreachable,
            format!("no answer in time ({ATTEMPTS} attempts of at most {ATTEMPT_TIMEOUT:?})"),
        ),
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            (RemoteFailure::Unreachable, error_chain(err))
        }
        SdkError::ResponseError(_) => (
            RemoteFailure::Other,
            "the answer could not be read as an AWS response".into(),
        ),
        _ if no_credentials(err) => (
            RemoteFailure::Denied,
            "no AWS credentials found (environment, profile, web identity, IMDS)".into(),
        ),
        _ if credentials_error(err).is_some() => (RemoteFailure::Denied, error_chain(err)),
        _ => (RemoteFailure::Other, error_chain(err)),
    }
}
