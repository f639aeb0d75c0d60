//! The collector's HTTP error: caller faults become 4xx with a JSON body saying what to fix;
//! everything else is a bare 500 whose cause goes to the log, not to the caller.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// An error answer from any handler.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or malformed Authorization header (expected `Bearer <device token>`)")]
    MissingToken,
    #[error("unknown or revoked device token")]
    BadToken,
    #[error("this endpoint needs `Authorization: Bearer <admin token>`")]
    AdminTokenRequired,
    #[error("this endpoint needs `Authorization: Bearer <admin or upload token>`")]
    UploadTokenRequired,
    #[error("{0}")]
    Forbidden(String),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("unsupported content type {0:?}; send NDJSON (application/x-ndjson)")]
    UnsupportedMediaType(String),
    #[error("missing Content-Type; send NDJSON (application/x-ndjson)")]
    MissingContentType,
    #[error(
        "unsupported content type {0:?}; send the file as multipart/form-data in a part named `file`"
    )]
    NotMultipart(String),
    #[error("unsupported content encoding {0:?}; send identity or gzip")]
    UnsupportedEncoding(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}; send the request again")]
    RequestTimeout(String),
    #[error("too many requests in flight for this device; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("collector is busy; retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::BadToken
            | Self::AdminTokenRequired
            | Self::UploadTokenRequired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_)
            | Self::MissingContentType
            | Self::NotMultipart(_)
            | Self::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(error = %e, "database unavailable; asking the client to retry");
            Self::Unavailable {
                retry_after_secs: 2,
            }
        } else {
            Self::Internal(e.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
            return status.into_response();
        }
        let mut response = (
            status,
            Json(json!({ "success": false, "error": self.to_string() })),
        )
            .into_response();
        let retry = match self {
            Self::TooManyRequests { retry_after_secs } | Self::Unavailable { retry_after_secs } => {
                Some(retry_after_secs)
            }
            _ => None,
        };
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body is not read: the connection cannot carry another request,
            // and a client that pooled it would fail its next one on it.
            response = scout_common::serve::body::closing(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scout\""),
            );
        }
        response
    }
}
