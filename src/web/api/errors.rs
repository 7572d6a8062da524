//! The API's error answer, `{"error": {"code", "message"}}`, and the
//! extractors that turn bad requests into it (never axum's plain text).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::ops::OpError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        tracing::error!("admin API: {e}");
        match e {
            // The database's own words may quote data: the log has them.
            Error::Database(_) | Error::Migrate(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "database error (see the server's log)",
            ),
            Error::TryLater(m) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            e => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound(m) => Self::not_found(m),
            OpError::Conflict(m) => Self::conflict(m),
            OpError::Invalid(m) | OpError::Usage(m) => Self::invalid(m),
            OpError::Unavailable(m) => Self::new(StatusCode::BAD_GATEWAY, "send_failed", m),
            OpError::Failed(e) => e.into(),
        }
    }
}

/// A JSON body: malformed JSON is 400, well-formed but wrong (a missing
/// or unknown field, a wrong type) is 422.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::invalid(e.body_text())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "request body too large",
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// The `{id}` of a path: a number, else 400.
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<i64>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(id)) => Ok(Id(id)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::bad_request("the id in the path must be a number"))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Query parameters: anything that does not parse is 400.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request(e.body_text()))
            }
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// A list endpoint's `page` (from 1) and `per_page` (1 to 1000, default
/// 100), checked, with the offset they give.
pub struct Page {
    pub page: i64,
    pub per_page: i64,
    pub offset: i64,
}

impl Page {
    pub fn of(page: Option<i64>, per_page: Option<i64>) -> Result<Page, ApiError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(100);
        if page < 1 || !(1..=1000).contains(&per_page) {
            return Err(ApiError::bad_request(
                "page starts at 1 and per_page is between 1 and 1000",
            ));
        }
        let offset = (page - 1).saturating_mul(per_page);
        Ok(Page {
            page,
            per_page,
            offset,
        })
    }
}
