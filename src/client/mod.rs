//! The admin API client (JSON over HTTPS with a client certificate), and
//! the reader client re-exported from the protocol crate.
//!
//! Requests are made by operation: `client.call(Op::CardRevoke, &[&12])`
//! fills the path from the table in [`crate::api`], so no caller spells a
//! path; bodies and answers are the shared types of [`crate::api::types`].

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use rustls::ClientConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::api::Op;

pub use crate::protocol::client::{tls_connect, ClientError, ReaderClient};

/// An admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Network or TLS failure (including a refused certificate).
    #[error(transparent)]
    Connect(#[from] ClientError),
    /// HTTP failure.
    #[error("admin API: {0}")]
    Http(String),
    /// The appliance answered with an error.
    #[error("HTTP {status}: {message}")]
    Refused {
        /// The status.
        status: u16,
        /// The appliance's message.
        message: String,
    },
    /// An answer that is not the operation's response type.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// One request being built: an operation, its path arguments, a query and
/// a body.
#[derive(Debug)]
pub struct Call<'a> {
    client: &'a AdminClient,
    op: Op,
    path: String,
    body: Vec<u8>,
}

impl Call<'_> {
    /// A JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = serde_json::to_vec(body).unwrap_or_default();
        self
    }

    /// A raw body (an image).
    pub fn bytes(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// A query string from a query type.
    pub fn query<T: Serialize + ?Sized>(mut self, q: &T) -> Self {
        if let Ok(qs) = serde_urlencoded::to_string(q) {
            if !qs.is_empty() {
                self.path.push('?');
                self.path.push_str(&qs);
            }
        }
        self
    }

    /// Sends it; the status and the JSON answer (`null` when empty, a string
    /// when not JSON).
    pub async fn send(self) -> Result<(u16, Value), AdminError> {
        let (status, bytes) = self.send_bytes().await?;
        Ok((status, json_or_text(&bytes)))
    }

    /// Sends it; the status and the raw answer (images).
    pub async fn send_bytes(self) -> Result<(u16, Vec<u8>), AdminError> {
        self.client
            .exchange(self.op.method().as_str(), &self.path, self.body)
            .await
    }

    /// Sends it and decodes a successful answer as `T`; an error answer is
    /// [`AdminError::Refused`] with the appliance's message.
    pub async fn expect<T: DeserializeOwned>(self) -> Result<T, AdminError> {
        let (status, v) = self.send().await?;
        if !(200..300).contains(&status) {
            return Err(refused(status, &v));
        }
        serde_json::from_value(v).map_err(|e| AdminError::Unexpected(e.to_string()))
    }
}

fn json_or_text(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    }
}

/// The error of a non-2xx answer.
pub fn refused(status: u16, body: &Value) -> AdminError {
    let message = body
        .get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string());
    AdminError::Refused { status, message }
}

/// An admin API client (one connection per request; admin traffic is rare).
#[derive(Clone)]
pub struct AdminClient {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("addr", &self.addr)
            .finish()
    }
}

impl AdminClient {
    /// A client for the admin listener at `addr`.
    pub fn new(addr: SocketAddr, config: Arc<ClientConfig>) -> Self {
        Self { addr, config }
    }

    /// A call of `op` with path arguments `args` (filled into the
    /// operation's `{...}` segments in order).
    pub fn call(&self, op: Op, args: &[&(dyn std::fmt::Display + Sync)]) -> Call<'_> {
        Call {
            client: self,
            path: op.path_with(args),
            op,
            body: Vec::new(),
        }
    }

    /// A request to a path that is *not* an operation (tests that prove
    /// such paths do not exist): the status and the JSON answer.
    pub async fn probe(&self, method: &str, path: &str) -> Result<(u16, Value), AdminError> {
        let (status, bytes) = self.exchange(method, path, Vec::new()).await?;
        Ok((status, json_or_text(&bytes)))
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), AdminError> {
        let tls = tls_connect(self.addr, self.config.clone())
            .await
            .map_err(AdminError::Connect)?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| AdminError::Http(e.to_string()))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "portcullis")
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| AdminError::Http(e.to_string()))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| AdminError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| AdminError::Http(e.to_string()))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }
}
