//! A reader's connection to the appliance: TLS 1.3 with the reader's
//! certificate, HELLO, then VERIFY and PING. Used by door controllers, the
//! CLI, the load generator and the tests.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::codec::{Connection, ReadError};
use crate::{Credential, ErrorCode, Frame, FrameError, VerifyRequest, MIN_VERSION, VERSION};

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

impl From<ReadError> for ClientError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => ClientError::Io(e),
            ReadError::Frame(e) => ClientError::Frame(e),
            ReadError::Truncated => ClientError::Closed,
        }
    }
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

/// The TLS stream a reader talks over.
pub type ReaderStream = TlsStream<TcpStream>;

/// A reader connection.
pub struct ReaderClient {
    conn: Connection<ReaderStream>,
    /// `max_frame` announced by the appliance.
    pub max_frame: u16,
    /// `max_in_flight` announced by the appliance.
    pub max_in_flight: u16,
    /// The protocol version agreed in HELLO.
    pub version: u8,
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
            min_version: MIN_VERSION,
            max_version: VERSION,
        })
        .await?;
        match c.recv().await? {
            Some(Frame::HelloOk {
                version,
                max_frame,
                max_in_flight,
            }) => {
                c.version = version;
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
            conn: Connection::new(tls_connect(addr, config).await?, usize::from(u16::MAX)),
            max_frame: 0,
            max_in_flight: 0,
            version: 0,
        })
    }

    /// The framed connection, for callers that drive the protocol
    /// themselves (the load generator, door controllers).
    pub fn into_connection(self) -> Connection<ReaderStream> {
        self.conn
    }

    /// Whether the TLS session was resumed from a session ticket (no
    /// certificate signatures in the handshake).
    pub fn resumed(&self) -> bool {
        self.conn.get_ref().get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.conn.queue(frame);
        Ok(self.conn.flush().await?)
    }

    /// Sends raw bytes (frames already encoded, or deliberately broken ones).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn.queue_bytes(bytes);
        Ok(self.conn.flush().await?)
    }

    /// Closes the sending direction (TLS close_notify); answers can still
    /// be read.
    pub async fn finish_sending(&mut self) -> Result<(), ClientError> {
        Ok(self.conn.shutdown().await?)
    }

    /// Receives one frame; `None` when the appliance closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Frame>, ClientError> {
        Ok(self.conn.read_frame().await?)
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
