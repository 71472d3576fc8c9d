//! A reader's connection to the appliance: TLS 1.3 with the reader's
//! certificate, HELLO, then VERIFY and PING. Used by door controllers, the
//! CLI, the load generator and the tests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::{Credential, ErrorCode, Frame, FrameError, VerifyRequest, VERSION};

/// A client-side failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Network or TLS failure (including a refused certificate).
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The appliance sent bytes that are not a frame.
    #[error("protocol: {0}")]
    Frame(#[from] FrameError),
    /// The appliance answered with an ERROR frame.
    #[error("appliance refused: {}", .0.as_str())]
    Refused(ErrorCode),
    /// The appliance closed the connection.
    #[error("connection closed by the appliance")]
    Closed,
    /// An answer that does not fit the request.
    #[error("unexpected answer: {0:?}")]
    Unexpected(Frame),
}

/// Connects over TCP (no delay) and completes a TLS handshake with
/// `config`, naming the server by its IP address.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::IpAddress(addr.ip().into());
    Ok(TlsConnector::from(config).connect(name, tcp).await?)
}

/// A reader connection.
pub struct ReaderClient {
    tls: TlsStream<TcpStream>,
    buf: BytesMut,
    /// `max_frame` announced by the appliance.
    pub max_frame: u16,
    /// `max_in_flight` announced by the appliance.
    pub max_in_flight: u16,
}

impl std::fmt::Debug for ReaderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderClient").finish()
    }
}

impl ReaderClient {
    /// Connects, completes TLS, and exchanges HELLO.
    pub async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Self, ClientError> {
        let mut c = Self::connect_raw(addr, config).await?;
        c.send(&Frame::Hello {
            min_version: VERSION,
            max_version: VERSION,
        })
        .await?;
        match c.recv().await? {
            Some(Frame::HelloOk {
                max_frame,
                max_in_flight,
                ..
            }) => {
                c.max_frame = max_frame;
                c.max_in_flight = max_in_flight;
                Ok(c)
            }
            Some(Frame::Error { code, .. }) => Err(ClientError::Refused(code)),
            Some(f) => Err(ClientError::Unexpected(f)),
            None => Err(ClientError::Closed),
        }
    }

    /// Connects and completes TLS only; nothing is sent.
    pub async fn connect_raw(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            tls: tls_connect(addr, config).await?,
            buf: BytesMut::with_capacity(16 * 1024),
            max_frame: 0,
            max_in_flight: 0,
        })
    }

    /// The TLS stream, for callers that drive the protocol themselves (the
    /// load generator). Bytes already buffered are dropped, so call this
    /// only between exchanges.
    pub fn into_stream(self) -> TlsStream<TcpStream> {
        self.tls
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        let mut out = Vec::with_capacity(32);
        frame.encode(&mut out);
        self.send_bytes(&out).await
    }

    /// Sends raw bytes (frames already encoded, or deliberately broken ones).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.tls.write_all(bytes).await?;
        self.tls.flush().await?;
        Ok(())
    }

    /// Closes the sending direction (TLS close_notify); answers can still
    /// be read.
    pub async fn finish_sending(&mut self) -> Result<(), ClientError> {
        self.tls.shutdown().await?;
        Ok(())
    }

    /// Receives one frame; `None` when the appliance closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            match Frame::decode(&self.buf, usize::from(u16::MAX)) {
                Ok((f, n)) => {
                    self.buf.advance(n);
                    return Ok(Some(f));
                }
                Err(FrameError::Incomplete) => {}
                Err(e) => return Err(e.into()),
            }
            self.buf.reserve(4096);
            match self.tls.read_buf(&mut self.buf).await {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                // An abrupt close after an error frame is still a close.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Verifies one 128-bit access number at `door`; returns the
    /// VERIFY_RESULT.
    pub async fn verify(
        &mut self,
        request_id: u32,
        door: u32,
        number: &impl AsRef<[u8; 16]>,
    ) -> Result<Frame, ClientError> {
        self.send(&Frame::Verify(VerifyRequest {
            request_id,
            door,
            credential: Credential::Random128(*number.as_ref()),
        }))
        .await?;
        match self.recv().await? {
            Some(f @ Frame::VerifyResult { request_id: r, .. }) if r == request_id => Ok(f),
            Some(Frame::Error { code, .. }) => Err(ClientError::Refused(code)),
            Some(f) => Err(ClientError::Unexpected(f)),
            None => Err(ClientError::Closed),
        }
    }
}
