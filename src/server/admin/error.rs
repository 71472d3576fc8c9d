//! The admin API's error answer and the one place every error of the layers
//! below is given its HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::types::ErrorBody;
use crate::ledger::LedgerError;
use crate::police::RequestError;
use crate::records::cardholder::HolderError;
use crate::records::cards::CardError;
use crate::records::readers::ReaderError;
use crate::store::StoreError;

/// An admin API error: a status and a message safe to show the caller
/// (never personal data, never a stack trace).
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, in words.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request is not what the operation takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 422: well-formed, but the values break a rule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 500, logged: the detail stays in the log, the caller is told that
    /// storage failed and nothing changed.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin request failed in storage");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage failure; nothing was changed",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<CardError> for ApiError {
    fn from(e: CardError) -> Self {
        let status = match &e {
            CardError::NotFound(_) => StatusCode::NOT_FOUND,
            CardError::WrongStatus { .. } | CardError::Refused(_) => StatusCode::CONFLICT,
            CardError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            CardError::Store(s) => return ApiError::internal(s),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<HolderError> for ApiError {
    fn from(e: HolderError) -> Self {
        let status = match &e {
            HolderError::NotFound(_) | HolderError::NoPhoto(_) => StatusCode::NOT_FOUND,
            HolderError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            HolderError::Withheld => StatusCode::FORBIDDEN,
            HolderError::Store(_) | HolderError::Vault(_) => return ApiError::internal(e),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ReaderError> for ApiError {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::Invalid(m) => ApiError::invalid(m),
            ReaderError::Store(s) => ApiError::internal(s),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let status = match e {
            RequestError::NoChiefKey | RequestError::Replayed => StatusCode::CONFLICT,
            RequestError::Malformed | RequestError::BadDocument(_) => StatusCode::BAD_REQUEST,
            RequestError::Limit => StatusCode::TOO_MANY_REQUESTS,
            RequestError::WrongPurpose(_) | RequestError::Window(_) | RequestError::TooLong => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            RequestError::BadSignature | RequestError::NotYetValid | RequestError::Expired => {
                StatusCode::FORBIDDEN
            }
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::crypto::vault::VaultError> for ApiError {
    fn from(e: crate::crypto::vault::VaultError) -> Self {
        ApiError::internal(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::StorageFull
            | LedgerError::ClusterUnavailable
            | LedgerError::ClusterUncertain
            | LedgerError::ClusterBusy
            | LedgerError::ClusterApply(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            e => ApiError::internal(e),
        }
    }
}

/// Parses a JSON request body, refusing it with a clear 400.
pub fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

impl From<crate::records::keyorders::OrderError> for ApiError {
    fn from(e: crate::records::keyorders::OrderError) -> Self {
        use crate::records::keyorders::OrderError as E;
        let status = match &e {
            E::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::NotAuthorized(_) => StatusCode::FORBIDDEN,
            E::Refused(_) => StatusCode::CONFLICT,
            E::NotFound(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::records::video::VideoError> for ApiError {
    fn from(e: crate::records::video::VideoError) -> Self {
        use crate::records::video::VideoError as E;
        let status = match &e {
            E::Invalid(_) | E::Policy(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::Refused(_) => StatusCode::CONFLICT,
            E::NotFound(_) => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::records::cardholder::distribution::DistributionError> for ApiError {
    fn from(e: crate::records::cardholder::distribution::DistributionError) -> Self {
        use crate::records::cardholder::distribution::DistributionError as E;
        let status = match &e {
            E::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::Refused(_) => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<crate::records::doors::DoorError> for ApiError {
    fn from(e: crate::records::doors::DoorError) -> Self {
        ApiError::invalid(e.0)
    }
}
