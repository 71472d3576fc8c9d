//! The admin API client (JSON over HTTPS with a client certificate), and
//! the reader client re-exported from the protocol crate.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use rustls::ClientConfig;

pub use crate::protocol::client::{tls_connect, ClientError, ReaderClient};

/// An admin request failed before an HTTP answer arrived.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Network or TLS failure (including a refused certificate).
    #[error(transparent)]
    Connect(#[from] ClientError),
    /// HTTP failure.
    #[error("admin API: {0}")]
    Http(String),
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

    /// Sends a request; returns the status and the JSON body (or `null`).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), AdminError> {
        let bytes = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| AdminError::Http(e.to_string()))?,
            None => Vec::new(),
        };
        self.request_raw(method, path, bytes).await
    }

    /// Sends a request with a raw body; returns the status and the JSON
    /// body (or the body as a string when it is not JSON).
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, serde_json::Value), AdminError> {
        let (status, bytes) = self.request_bytes(method, path, body).await?;
        let value = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into())
            })
        };
        Ok((status, value))
    }

    /// Sends a request with a raw body; returns the status and the raw
    /// response body (images).
    pub async fn request_bytes(
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
