//! Frames in and out of one byte stream: the only place that buffers and
//! decodes protocol bytes, used by the appliance's reader listener, the
//! reader client, door controllers and the load generator alike.
//!
//! Reading is split as in mini-redis: [`Connection::fill`] reads whatever
//! the socket has (cancel-safe, so it can sit in a `select!`), and
//! [`Connection::next_frame`] hands out whole frames already buffered —
//! "incomplete" is `Ok(None)`, not an error. Writing queues encoded frames
//! in a buffer that [`Connection::flush`] writes in one go, so a round of
//! answers costs one TLS record and one syscall.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{Frame, FrameError};

/// Bytes reserved in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;

/// Why [`Connection::read_frame`] got no frame.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer sent bytes that are not a frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

/// A byte stream carrying protocol frames.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    read: BytesMut,
    write: Vec<u8>,
    max_frame: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Wraps `stream`; frames longer than `max_frame` (type byte and body)
    /// are refused when their header arrives.
    pub fn new(stream: S, max_frame: usize) -> Self {
        Self {
            stream,
            read: BytesMut::with_capacity(READ_CHUNK),
            write: Vec::with_capacity(READ_CHUNK),
            max_frame,
        }
    }

    /// Changes the largest frame accepted (after HELLO negotiation).
    pub fn set_max_frame(&mut self, max: usize) {
        self.max_frame = max;
    }

    /// Reads what the stream has into the buffer; `Ok(0)` at end of stream.
    /// Cancel-safe.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        self.read.reserve(READ_CHUNK);
        self.stream.read_buf(&mut self.read).await
    }

    /// The next whole frame already buffered, or `Ok(None)` when more bytes
    /// are needed. A frame error leaves the buffer as it was.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        match Frame::decode(&self.read, self.max_frame) {
            Ok((f, n)) => {
                self.read.advance(n);
                Ok(Some(f))
            }
            Err(FrameError::Incomplete) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Bytes received but not yet decoded (a partial frame).
    pub fn buffered(&self) -> usize {
        self.read.len()
    }

    /// The next frame, reading as needed; `Ok(None)` when the peer closed
    /// the stream between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Some(f) = self.next_frame()? {
                return Ok(Some(f));
            }
            match self.fill().await {
                Ok(0) if self.read.is_empty() => return Ok(None),
                Ok(0) => return Err(ReadError::Truncated),
                Ok(_) => {}
                // An abrupt close (no TLS close_notify) after the last frame
                // is still a close.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && self.read.is_empty() => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Queues a frame for the next [`Connection::flush`].
    pub fn queue(&mut self, frame: &Frame) {
        frame.encode(&mut self.write);
    }

    /// Queues raw bytes (frames encoded elsewhere, or deliberately broken
    /// ones in tests).
    pub fn queue_bytes(&mut self, bytes: &[u8]) {
        self.write.extend_from_slice(bytes);
    }

    /// Whether frames are queued.
    pub fn has_queued(&self) -> bool {
        !self.write.is_empty()
    }

    /// Drops whatever is queued (answers that must not be sent).
    pub fn discard_queued(&mut self) {
        self.write.clear();
    }

    /// Writes everything queued and flushes the stream.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if !self.write.is_empty() {
            self.stream.write_all(&self.write).await?;
            self.write.clear();
        }
        self.stream.flush().await
    }

    /// Closes the sending direction (TLS close_notify); frames can still be
    /// read.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.stream.shutdown().await
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_across_reads_and_several_per_read() {
        let (a, b) = tokio::io::duplex(64);
        let mut tx = Connection::new(a, 512);
        let mut rx = Connection::new(b, 512);
        for i in 0..50 {
            tx.queue(&Frame::Ping { request_id: i });
        }
        // 50 PINGs are 350 bytes: more than the pipe holds at once.
        let writer = tokio::spawn(async move {
            tx.flush().await.unwrap();
            tx.shutdown().await.unwrap();
        });
        for i in 0..50 {
            assert_eq!(
                rx.read_frame().await.unwrap(),
                Some(Frame::Ping { request_id: i })
            );
        }
        assert!(rx.read_frame().await.unwrap().is_none());
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn truncated_and_oversize_frames_are_errors() {
        let (a, b) = tokio::io::duplex(64);
        let mut tx = Connection::new(a, 512);
        let mut rx = Connection::new(b, 512);
        tx.queue_bytes(&[0, 5, 0x20, 0]);
        tx.flush().await.unwrap();
        tx.shutdown().await.unwrap();
        assert!(matches!(rx.read_frame().await, Err(ReadError::Truncated)));

        let (a, b) = tokio::io::duplex(64);
        let mut tx = Connection::new(a, 512);
        let mut rx = Connection::new(b, 16);
        tx.queue_bytes(&[0x01, 0x00]);
        tx.flush().await.unwrap();
        assert!(matches!(
            rx.read_frame().await,
            Err(ReadError::Frame(FrameError::TooLarge { len: 256, max: 16 }))
        ));
    }
}
