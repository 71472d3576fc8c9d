//! Frames: `len: u16 BE | type: u8 | body`, where `len` counts the type byte
//! and the body. Decoding is split in two, as in mini-redis: [`Frame::check`]
//! looks at the header only and says whether a whole frame is buffered
//! ("incomplete" is a normal outcome), [`Frame::parse`] decodes one whole
//! frame and rejects any length mismatch or trailing byte.

use bytes::BufMut;

use super::{HEADER_LEN, MAGIC};
use crate::reason::{Decision, Reason};

/// Frame type codes.
pub mod ty {
    /// Client → appliance: protocol magic and version range.
    pub const HELLO: u8 = 0x01;
    /// Appliance → client: chosen version and limits.
    pub const HELLO_OK: u8 = 0x02;
    /// Client → appliance: verify one credential at one door.
    pub const VERIFY: u8 = 0x10;
    /// Appliance → client: the decision.
    pub const VERIFY_RESULT: u8 = 0x11;
    /// Client → appliance: liveness.
    pub const PING: u8 = 0x20;
    /// Appliance → client: liveness answer.
    pub const PONG: u8 = 0x21;
    /// Controller → appliance (version 2): a door event.
    pub const EVENT: u8 = 0x30;
    /// Appliance → controller (version 2): door events journaled.
    pub const EVENT_ACK: u8 = 0x31;
    /// Appliance → client: an error; fatal codes are followed by close.
    pub const ERROR: u8 = 0x7F;
}

/// Credential type code for a 128-bit random access number.
pub const CRED_RANDOM128: u8 = 0x01;

/// Credential type a door controller sends for a card format it does not
/// translate (a Wiegand read, say). Reserved: the appliance answers it
/// DENY `unsupported_format`, and the card's bytes are never sent.
pub const CRED_OTHER: u8 = 0xFE;

/// A credential as presented by a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A 128-bit random access number, the native format.
    Random128([u8; 16]),
    /// A credential type this appliance does not read; only its type and
    /// length are kept (the bytes are dropped, never stored).
    Unsupported {
        /// Type code.
        cred_type: u8,
        /// Length of the bytes that were presented.
        len: u8,
    },
}

/// A VERIFY request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyRequest {
    /// Chosen by the reader; echoed in the answer.
    pub request_id: u32,
    /// The door the card was presented at.
    pub door: u32,
    /// The credential.
    pub credential: Credential,
}

/// What a door event reports. Codes are part of the protocol and of the
/// journal: never renumber, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DoorEventKind {
    /// The door contact opened with no grant and no request to exit.
    ForcedOpen = 1,
    /// The door stayed open longer than its held-open time.
    HeldOpen = 2,
    /// The reader's tamper switch.
    Tamper = 3,
    /// The controller lost the reader (OSDP offline or no secure channel).
    ReaderOffline = 4,
}

impl DoorEventKind {
    /// Every kind, in code order.
    pub const ALL: [DoorEventKind; 4] = [
        DoorEventKind::ForcedOpen,
        DoorEventKind::HeldOpen,
        DoorEventKind::Tamper,
        DoorEventKind::ReaderOffline,
    ];

    /// Wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// From a wire code.
    pub fn from_code(c: u8) -> Option<Self> {
        DoorEventKind::ALL.into_iter().find(|k| k.code() == c)
    }

    /// snake_case name, for metric labels and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DoorEventKind::ForcedOpen => "forced_open",
            DoorEventKind::HeldOpen => "held_open",
            DoorEventKind::Tamper => "tamper",
            DoorEventKind::ReaderOffline => "reader_offline",
        }
    }
}

/// A door event, as a controller reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorEvent {
    /// Strictly increasing per controller, across its restarts.
    pub event_id: u64,
    /// The door.
    pub door: u32,
    /// What happened.
    pub kind: DoorEventKind,
    /// `true` when the condition begins, `false` when it ends.
    pub begins: bool,
    /// When the controller observed it (µs since the epoch, its clock).
    pub observed_us: u64,
}

/// Codes carried by an ERROR frame. Codes at or above `0x80` are fatal: the
/// appliance closes the connection after sending them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The door in a VERIFY is not registered to this reader (per request).
    DoorNotAssigned,
    /// A frame's bytes do not follow the specification.
    MalformedFrame,
    /// A frame's length exceeds the negotiated maximum.
    FrameTooLarge,
    /// No common protocol version.
    UnsupportedVersion,
    /// A frame that is valid but not allowed now (no HELLO first, a second
    /// HELLO, an appliance-to-client type, an unknown type).
    UnexpectedFrame,
    /// More requests outstanding than the negotiated maximum.
    TooManyInFlight,
    /// Nothing received within the idle timeout.
    IdleTimeout,
    /// The certificate's role may not use the reader port.
    RoleNotPermitted,
    /// The reader certificate is valid but the reader is not registered.
    ReaderNotRegistered,
    /// The appliance is shutting down.
    ShuttingDown,
    /// The appliance could not journal the decision; nothing was answered.
    Internal,
    /// The appliance serves its maximum of reader connections; try another
    /// appliance.
    AtCapacity,
    /// The reader's certificate has been revoked.
    CertificateRevoked,
    /// The appliance is not serving readers yet (a clustered appliance
    /// catching up with the change log); try another appliance.
    NotReady,
    /// A code this implementation does not know (decoding only).
    Other(u8),
}

impl ErrorCode {
    /// Wire code.
    pub fn code(self) -> u8 {
        match self {
            ErrorCode::DoorNotAssigned => 0x01,
            ErrorCode::MalformedFrame => 0x80,
            ErrorCode::FrameTooLarge => 0x81,
            ErrorCode::UnsupportedVersion => 0x82,
            ErrorCode::UnexpectedFrame => 0x83,
            ErrorCode::TooManyInFlight => 0x84,
            ErrorCode::IdleTimeout => 0x85,
            ErrorCode::RoleNotPermitted => 0x86,
            ErrorCode::ReaderNotRegistered => 0x87,
            ErrorCode::ShuttingDown => 0x88,
            ErrorCode::Internal => 0x89,
            ErrorCode::AtCapacity => 0x8A,
            ErrorCode::CertificateRevoked => 0x8B,
            ErrorCode::NotReady => 0x8C,
            ErrorCode::Other(c) => c,
        }
    }
    /// From a wire code.
    pub fn from_code(c: u8) -> Self {
        match c {
            0x01 => ErrorCode::DoorNotAssigned,
            0x80 => ErrorCode::MalformedFrame,
            0x81 => ErrorCode::FrameTooLarge,
            0x82 => ErrorCode::UnsupportedVersion,
            0x83 => ErrorCode::UnexpectedFrame,
            0x84 => ErrorCode::TooManyInFlight,
            0x85 => ErrorCode::IdleTimeout,
            0x86 => ErrorCode::RoleNotPermitted,
            0x87 => ErrorCode::ReaderNotRegistered,
            0x88 => ErrorCode::ShuttingDown,
            0x89 => ErrorCode::Internal,
            0x8A => ErrorCode::AtCapacity,
            0x8B => ErrorCode::CertificateRevoked,
            0x8C => ErrorCode::NotReady,
            other => ErrorCode::Other(other),
        }
    }
    /// Whether the connection is closed after this error.
    pub fn is_fatal(self) -> bool {
        self.code() >= 0x80
    }
    /// snake_case name, for metric labels and output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::DoorNotAssigned => "door_not_assigned",
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::UnexpectedFrame => "unexpected_frame",
            ErrorCode::TooManyInFlight => "too_many_in_flight",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::RoleNotPermitted => "role_not_permitted",
            ErrorCode::ReaderNotRegistered => "reader_not_registered",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
            ErrorCode::AtCapacity => "at_capacity",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::CertificateRevoked => "certificate_revoked",
            ErrorCode::Other(_) => "other",
        }
    }
}

/// One protocol frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Client greeting.
    Hello {
        /// Lowest version the client speaks.
        min_version: u8,
        /// Highest version the client speaks.
        max_version: u8,
    },
    /// Appliance greeting.
    HelloOk {
        /// The version both will speak.
        version: u8,
        /// Largest frame length the appliance accepts.
        max_frame: u16,
        /// Most requests the client may have unanswered.
        max_in_flight: u16,
    },
    /// Verify a credential.
    Verify(VerifyRequest),
    /// The answer to a VERIFY.
    VerifyResult {
        /// The request's id.
        request_id: u32,
        /// Grant or deny.
        decision: Decision,
        /// Why.
        reason: Reason,
    },
    /// Liveness probe.
    Ping {
        /// Echoed in the PONG.
        request_id: u32,
    },
    /// Liveness answer.
    Pong {
        /// The PING's id.
        request_id: u32,
    },
    /// A door event (version 2).
    Event(DoorEvent),
    /// Every door event of this controller up to `event_id` is journaled
    /// (version 2).
    EventAck {
        /// The highest event id journaled.
        event_id: u64,
    },
    /// An error; see [`ErrorCode::is_fatal`].
    Error {
        /// The request it concerns, or 0.
        request_id: u32,
        /// What went wrong.
        code: ErrorCode,
    },
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not enough bytes buffered yet; read more. Not an error on the wire.
    #[error("incomplete frame")]
    Incomplete,
    /// The length prefix exceeds the maximum.
    #[error("frame length {len} exceeds maximum {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A zero length prefix: no type byte.
    #[error("empty frame")]
    Empty,
    /// The type byte is not a known frame type.
    #[error("unknown frame type {0:#04x}")]
    UnknownType(u8),
    /// The body length does not match the frame type.
    #[error("wrong body length for frame type {0:#04x}")]
    BadLength(u8),
    /// A HELLO without the protocol magic.
    #[error("bad magic in HELLO")]
    BadMagic,
    /// A credential whose length does not match its type.
    #[error("credential length does not match its type")]
    BadCredential,
    /// A decision, reason or event code outside the specification.
    #[error("unknown decision, reason or event code")]
    BadCode,
}

impl FrameError {
    /// The ERROR code the appliance answers this with.
    pub fn error_code(self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::UnknownType(_) => ErrorCode::UnexpectedFrame,
            _ => ErrorCode::MalformedFrame,
        }
    }
}

impl Frame {
    /// Checks whether `buf` starts with a whole frame no longer than `max`.
    /// Returns the frame's total size (header included). Reads only the
    /// header: a too-large frame is refused before its body arrives.
    pub fn check(buf: &[u8], max: usize) -> Result<usize, FrameError> {
        if buf.len() < HEADER_LEN {
            return Err(FrameError::Incomplete);
        }
        let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > max {
            return Err(FrameError::TooLarge { len, max });
        }
        let total = HEADER_LEN + len;
        if buf.len() < total {
            return Err(FrameError::Incomplete);
        }
        Ok(total)
    }

    /// Decodes exactly one whole frame (`frame` as sized by [`Frame::check`]).
    pub fn parse(frame: &[u8]) -> Result<Frame, FrameError> {
        let (&t, body) = frame
            .get(HEADER_LEN..)
            .and_then(|b| b.split_first())
            .ok_or(FrameError::Empty)?;
        let need = |n: usize| {
            if body.len() == n {
                Ok(())
            } else {
                Err(FrameError::BadLength(t))
            }
        };
        let u32_at =
            |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        let u16_at = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
        match t {
            ty::HELLO => {
                need(6)?;
                if body[..4] != MAGIC {
                    return Err(FrameError::BadMagic);
                }
                Ok(Frame::Hello {
                    min_version: body[4],
                    max_version: body[5],
                })
            }
            ty::HELLO_OK => {
                need(5)?;
                Ok(Frame::HelloOk {
                    version: body[0],
                    max_frame: u16_at(1),
                    max_in_flight: u16_at(3),
                })
            }
            ty::VERIFY => {
                if body.len() < 10 {
                    return Err(FrameError::BadLength(t));
                }
                let cred_type = body[8];
                let cred_len = body[9];
                need(10 + usize::from(cred_len))?;
                let bytes = &body[10..];
                let credential = match cred_type {
                    CRED_RANDOM128 => {
                        let n: [u8; 16] =
                            bytes.try_into().map_err(|_| FrameError::BadCredential)?;
                        Credential::Random128(n)
                    }
                    _ => Credential::Unsupported {
                        cred_type,
                        len: cred_len,
                    },
                };
                Ok(Frame::Verify(VerifyRequest {
                    request_id: u32_at(0),
                    door: u32_at(4),
                    credential,
                }))
            }
            ty::VERIFY_RESULT => {
                need(6)?;
                Ok(Frame::VerifyResult {
                    request_id: u32_at(0),
                    decision: Decision::from_code(body[4]).ok_or(FrameError::BadCode)?,
                    reason: Reason::from_code(body[5]).ok_or(FrameError::BadCode)?,
                })
            }
            ty::PING => {
                need(4)?;
                Ok(Frame::Ping {
                    request_id: u32_at(0),
                })
            }
            ty::PONG => {
                need(4)?;
                Ok(Frame::Pong {
                    request_id: u32_at(0),
                })
            }
            ty::EVENT => {
                need(22)?;
                let u64_at =
                    |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().unwrap_or([0; 8]));
                let begins = match body[13] {
                    0 => false,
                    1 => true,
                    _ => return Err(FrameError::BadCode),
                };
                Ok(Frame::Event(DoorEvent {
                    event_id: u64_at(0),
                    door: u32_at(8),
                    kind: DoorEventKind::from_code(body[12]).ok_or(FrameError::BadCode)?,
                    begins,
                    observed_us: u64_at(14),
                }))
            }
            ty::EVENT_ACK => {
                need(8)?;
                Ok(Frame::EventAck {
                    event_id: u64::from_be_bytes(body[0..8].try_into().unwrap_or([0; 8])),
                })
            }
            ty::ERROR => {
                need(5)?;
                Ok(Frame::Error {
                    request_id: u32_at(0),
                    code: ErrorCode::from_code(body[4]),
                })
            }
            other => Err(FrameError::UnknownType(other)),
        }
    }

    /// Check then parse: `Ok((frame, consumed))`, or `Err(Incomplete)`.
    pub fn decode(buf: &[u8], max: usize) -> Result<(Frame, usize), FrameError> {
        let n = Frame::check(buf, max)?;
        Ok((Frame::parse(&buf[..n])?, n))
    }

    /// Appends the encoded frame to `out`. An `Unsupported` credential is
    /// encoded with zero bytes of its announced length (it is never sent by
    /// this implementation; the variant exists for decoding).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        match *self {
            Frame::Hello {
                min_version,
                max_version,
            } => {
                out.put_u16(7);
                out.put_u8(ty::HELLO);
                out.put_slice(&MAGIC);
                out.put_u8(min_version);
                out.put_u8(max_version);
            }
            Frame::HelloOk {
                version,
                max_frame,
                max_in_flight,
            } => {
                out.put_u16(6);
                out.put_u8(ty::HELLO_OK);
                out.put_u8(version);
                out.put_u16(max_frame);
                out.put_u16(max_in_flight);
            }
            Frame::Verify(VerifyRequest {
                request_id,
                door,
                credential,
            }) => {
                let (t, bytes): (u8, &[u8]) = match &credential {
                    Credential::Random128(n) => (CRED_RANDOM128, n),
                    Credential::Unsupported { cred_type, len } => {
                        out.put_u16(11 + u16::from(*len));
                        out.put_u8(ty::VERIFY);
                        out.put_u32(request_id);
                        out.put_u32(door);
                        out.put_u8(*cred_type);
                        out.put_u8(*len);
                        out.put_bytes(0, usize::from(*len));
                        return;
                    }
                };
                out.put_u16(11 + bytes.len() as u16);
                out.put_u8(ty::VERIFY);
                out.put_u32(request_id);
                out.put_u32(door);
                out.put_u8(t);
                out.put_u8(bytes.len() as u8);
                out.put_slice(bytes);
            }
            Frame::VerifyResult {
                request_id,
                decision,
                reason,
            } => {
                out.put_u16(7);
                out.put_u8(ty::VERIFY_RESULT);
                out.put_u32(request_id);
                out.put_u8(decision.code());
                out.put_u8(reason.code());
            }
            Frame::Ping { request_id } => {
                out.put_u16(5);
                out.put_u8(ty::PING);
                out.put_u32(request_id);
            }
            Frame::Pong { request_id } => {
                out.put_u16(5);
                out.put_u8(ty::PONG);
                out.put_u32(request_id);
            }
            Frame::Event(e) => {
                out.put_u16(23);
                out.put_u8(ty::EVENT);
                out.put_u64(e.event_id);
                out.put_u32(e.door);
                out.put_u8(e.kind.code());
                out.put_u8(u8::from(e.begins));
                out.put_u64(e.observed_us);
            }
            Frame::EventAck { event_id } => {
                out.put_u16(9);
                out.put_u8(ty::EVENT_ACK);
                out.put_u64(event_id);
            }
            Frame::Error { request_id, code } => {
                out.put_u16(6);
                out.put_u8(ty::ERROR);
                out.put_u32(request_id);
                out.put_u8(code.code());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        hex::decode(clean).expect("hex")
    }

    /// The vectors in docs/PROTOCOL.md, by name, with what they must decode to.
    fn expected(name: &str) -> Frame {
        let n: [u8; 16] = hex("00112233445566778899aabbccddeeff").try_into().unwrap();
        match name {
            "hello" => Frame::Hello {
                min_version: 1,
                max_version: 1,
            },
            "hello-ok" => Frame::HelloOk {
                version: 1,
                max_frame: 512,
                max_in_flight: 256,
            },
            "verify-random128" => Frame::Verify(VerifyRequest {
                request_id: 42,
                door: 7,
                credential: Credential::Random128(n),
            }),
            "verify-result-grant" => Frame::VerifyResult {
                request_id: 42,
                decision: Decision::Grant,
                reason: Reason::Granted,
            },
            "verify-result-superseded" => Frame::VerifyResult {
                request_id: 43,
                decision: Decision::Deny,
                reason: Reason::Superseded,
            },
            "ping" => Frame::Ping { request_id: 9 },
            "pong" => Frame::Pong { request_id: 9 },
            "error-door-not-assigned" => Frame::Error {
                request_id: 44,
                code: ErrorCode::DoorNotAssigned,
            },
            "error-frame-too-large" => Frame::Error {
                request_id: 0,
                code: ErrorCode::FrameTooLarge,
            },
            "error-at-capacity" => Frame::Error {
                request_id: 0,
                code: ErrorCode::AtCapacity,
            },
            "event-forced-open" => Frame::Event(DoorEvent {
                event_id: 7,
                door: 10,
                kind: DoorEventKind::ForcedOpen,
                begins: true,
                observed_us: 1_796_000_000_000_000,
            }),
            "event-ack" => Frame::EventAck { event_id: 7 },
            "error-certificate-revoked" => Frame::Error {
                request_id: 0,
                code: ErrorCode::CertificateRevoked,
            },
            "error-not-ready" => Frame::Error {
                request_id: 0,
                code: ErrorCode::NotReady,
            },
            other => panic!("docs/PROTOCOL.md has a vector the test does not know: {other}"),
        }
    }

    /// Every `vector NAME: HEX` line of the protocol document decodes to the
    /// expected frame and re-encodes to the same bytes.
    #[test]
    fn protocol_document_vectors() {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let mut seen = 0;
        for line in doc.lines() {
            let Some(rest) = line.trim().strip_prefix("vector ") else {
                continue;
            };
            let (name, bytes) = rest.split_once(':').expect("vector NAME: HEX");
            let bytes = hex(bytes);
            let (frame, used) = Frame::decode(&bytes, 65535).unwrap();
            assert_eq!(used, bytes.len(), "{name}: trailing bytes");
            assert_eq!(frame, expected(name.trim()), "{name}");
            let mut out = Vec::new();
            frame.encode(&mut out);
            assert_eq!(out, bytes, "{name}: re-encoding differs");
            seen += 1;
        }
        assert!(seen >= 9, "only {seen} vectors found in docs/PROTOCOL.md");
    }

    #[test]
    fn every_error_has_a_fixture() {
        let max = 512;
        assert_eq!(Frame::check(&[], max), Err(FrameError::Incomplete));
        assert_eq!(Frame::check(&[0], max), Err(FrameError::Incomplete));
        assert_eq!(
            Frame::check(&[0, 5, 0x20], max),
            Err(FrameError::Incomplete)
        );
        assert_eq!(Frame::check(&[0, 0], max), Err(FrameError::Empty));
        assert_eq!(
            Frame::check(&[0x02, 0x01], max),
            Err(FrameError::TooLarge { len: 513, max })
        );
        assert_eq!(
            Frame::decode(&[0, 1, 0x55], max),
            Err(FrameError::UnknownType(0x55))
        );
        // PING with 3 body bytes, and with 5.
        assert_eq!(
            Frame::decode(&[0, 4, 0x20, 0, 0, 1], max),
            Err(FrameError::BadLength(0x20))
        );
        assert_eq!(
            Frame::decode(&[0, 6, 0x20, 0, 0, 0, 1, 9], max),
            Err(FrameError::BadLength(0x20))
        );
        assert_eq!(
            Frame::decode(&hex("0007 01 50525444 0101"), max),
            Err(FrameError::BadMagic)
        );
        // VERIFY of type random128 with 15 bytes.
        let mut v = hex("001a 10 00000001 00000002 01 0f");
        v.extend([0u8; 15]);
        assert_eq!(Frame::decode(&v, max), Err(FrameError::BadCredential));
        // VERIFY whose credential length overruns the frame.
        assert_eq!(
            Frame::decode(&hex("000b 10 00000001 00000002 01 10"), max),
            Err(FrameError::BadLength(0x10))
        );
        assert_eq!(
            Frame::decode(&hex("0007 11 00000001 01 63"), max),
            Err(FrameError::BadCode)
        );
    }

    #[test]
    fn unsupported_credential_is_not_an_error() {
        let bytes = hex("000e 10 00000005 00000001 07 03 aabbcc");
        let (f, _) = Frame::decode(&bytes, 512).unwrap();
        assert_eq!(
            f,
            Frame::Verify(VerifyRequest {
                request_id: 5,
                door: 1,
                credential: Credential::Unsupported {
                    cred_type: 7,
                    len: 3
                }
            })
        );
    }

    #[test]
    fn decode_several_in_one_buffer() {
        let mut buf = Vec::new();
        for i in 0..3 {
            Frame::Ping { request_id: i }.encode(&mut buf);
        }
        let mut at = 0;
        for i in 0..3 {
            let (f, n) = Frame::decode(&buf[at..], 512).unwrap();
            assert_eq!(f, Frame::Ping { request_id: i });
            at += n;
        }
        assert_eq!(Frame::decode(&buf[at..], 512), Err(FrameError::Incomplete));
    }

    #[test]
    fn fatal_codes() {
        assert!(!ErrorCode::DoorNotAssigned.is_fatal());
        assert!(ErrorCode::MalformedFrame.is_fatal());
        assert_eq!(ErrorCode::from_code(0x84), ErrorCode::TooManyInFlight);
        assert_eq!(ErrorCode::from_code(0x40), ErrorCode::Other(0x40));
    }
}
