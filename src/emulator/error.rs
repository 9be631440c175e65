//! What a handler answers: a reply, or an ARM error. The error envelope (wrapped or flat) is chosen
//! when the response is written, because only Microsoft.Insights uses the flat one.

use serde_json::{json, Value};

/// An ARM error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra response headers (Retry-After on 429s).
    pub headers: Vec<(String, String)>,
    /// `error.additionalInfo` entries (`{type, info}`: a policy violation's details).
    pub additional_info: Vec<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
            additional_info: Vec::new(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn not_found(id: &str) -> Self {
        Self::new(
            404,
            "ResourceNotFound",
            format!("The Resource '{id}' was not found."),
        )
    }

    pub fn parent_not_found(parent: &str) -> Self {
        Self::new(
            404,
            "ParentResourceNotFound",
            format!("Can not perform requested operation on nested resource. Parent resource '{parent}' not found."),
        )
    }

    /// A reference in the body (subnet, workspace, zone...) points at nothing.
    pub fn invalid_reference(what: &str, id: &str) -> Self {
        Self::bad_request(
            "InvalidResourceReference",
            format!("Resource {id} referenced by {what} was not found."),
        )
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `{"error":{code,message}}`, or `{code,message}` when `flat`.
    pub fn body(&self, flat: bool) -> Value {
        let mut inner = json!({"code": self.code, "message": self.message});
        if !self.additional_info.is_empty() {
            inner["additionalInfo"] = Value::Array(self.additional_info.clone());
        }
        if flat {
            inner
        } else {
            json!({ "error": inner })
        }
    }
}

/// A successful answer from a handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

pub type HResult = Result<Reply, ApiError>;
