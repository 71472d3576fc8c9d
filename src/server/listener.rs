//! The accept loop every listener shares, and the bounds it enforces.
//!
//! Two bounds per TLS listener, taken at different times:
//!
//! - **pending** (`max_handshakes`): connections not yet authenticated. The
//!   loop takes a pending permit *before* `accept()`, so a burst (every door
//!   reconnecting after a power cut) waits in the kernel backlog instead of
//!   being refused, and a flood of connections that never finish their
//!   handshake holds at most these permits — and, per source address, at
//!   most `max_handshakes_per_ip` of them (0 = no per-address cap); beyond
//!   that a connection is reset at once.
//! - **sessions** (`max_connections`): authenticated connections. Taken
//!   only after the peer has proven who it is, so unauthenticated peers
//!   never occupy a session slot. A peer that authenticates while every slot
//!   is taken is refused at once (reset), never parked: a reader learns
//!   immediately to try another appliance, and `/readyz` says the reader
//!   listener is full.
//!
//! Refusals and failed `accept()` calls are counted per listener.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::telemetry::Metrics;

pub use crate::telemetry::{Listener, Refusal};

/// The bounds of one listener.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Which listener.
    pub listener: Listener,
    sessions: Arc<Semaphore>,
    max: usize,
    pending: Option<Arc<Semaphore>>,
    per_ip: usize,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    by_identity: Arc<Mutex<HashMap<String, usize>>>,
    metrics: Option<Arc<Metrics>>,
}

/// An accepted connection that has not authenticated yet.
#[derive(Debug)]
pub struct Pending {
    /// The socket.
    pub tcp: TcpStream,
    /// Its pending permit: drop it once the peer has authenticated.
    pub guard: PendingGuard,
}

/// A connection's place among the unauthenticated; released on drop.
#[derive(Debug)]
pub struct PendingGuard {
    _permit: Option<OwnedSemaphorePermit>,
    _address: Option<AddressCount>,
}

/// An authenticated connection's place; released on drop.
#[derive(Debug)]
pub struct Session {
    _slot: OwnedSemaphorePermit,
    _identity: Option<IdentityCount>,
}

/// One session of an identity; uncounted on drop.
#[derive(Debug)]
struct IdentityCount {
    who: String,
    by_identity: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for IdentityCount {
    fn drop(&mut self) {
        let mut m = self.by_identity.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.who) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.who);
            }
        }
    }
}

/// One unauthenticated connection of an address; uncounted on drop.
#[derive(Debug)]
struct AddressCount {
    ip: IpAddr,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressCount {
    fn drop(&mut self) {
        let mut m = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl Gate {
    /// A gate of `max` sessions. With `pending = Some((n, per_ip))`, at most
    /// `n` connections may be unauthenticated at once (0: no bound but the
    /// sessions'), `per_ip` of them from one address (0: no per-address
    /// cap); without, connections are sessions from the start.
    pub fn new(listener: Listener, max: usize, pending: Option<(usize, usize)>) -> Self {
        Self {
            listener,
            sessions: Arc::new(Semaphore::new(max)),
            max,
            pending: pending
                .filter(|(n, _)| *n > 0)
                .map(|(n, _)| Arc::new(Semaphore::new(n))),
            per_ip: pending.map(|(_, p)| p).unwrap_or(0),
            by_ip: Arc::new(Mutex::new(HashMap::new())),
            by_identity: Arc::new(Mutex::new(HashMap::new())),
            metrics: None,
        }
    }

    /// Counts refusals in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        self.max - self.sessions.available_permits()
    }

    /// The configured maximum of sessions.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Whether every session slot is taken.
    pub fn exhausted(&self) -> bool {
        self.sessions.available_permits() == 0
    }

    /// Waits until every session has ended, up to `deadline`; `true` if they
    /// all did.
    pub async fn drained(&self, deadline: Duration) -> bool {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        tokio::time::timeout(deadline, self.sessions.acquire_many(all))
            .await
            .is_ok()
    }

    fn refuse(&self, why: Refusal) {
        if let Some(m) = &self.metrics {
            m.refused(self.listener, why);
        }
    }

    /// Takes a session slot for an authenticated peer; `None` (counted) when
    /// the listener is full — the caller then drops the connection.
    pub fn enter(&self) -> Option<Session> {
        match self.sessions.clone().try_acquire_owned() {
            Ok(p) => Some(Session {
                _slot: p,
                _identity: None,
            }),
            Err(_) => {
                self.refuse(Refusal::Capacity);
                None
            }
        }
    }

    /// Takes a session slot for the authenticated identity `who`, which may
    /// hold at most `per_identity` sessions (0: no cap); unless
    /// `privileged`, the last `reserved` slots stay free. `None` (counted)
    /// when refused.
    pub fn enter_as(
        &self,
        who: &str,
        per_identity: usize,
        reserved: usize,
        privileged: bool,
    ) -> Option<Session> {
        if !privileged && self.sessions.available_permits() <= reserved {
            self.refuse(Refusal::Capacity);
            return None;
        }
        let identity = if per_identity > 0 {
            let mut m = self.by_identity.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(who.to_owned()).or_insert(0);
            if *n >= per_identity {
                drop(m);
                self.refuse(Refusal::PerIdentity);
                return None;
            }
            *n += 1;
            Some(IdentityCount {
                who: who.to_owned(),
                by_identity: self.by_identity.clone(),
            })
        } else {
            None
        };
        match self.sessions.clone().try_acquire_owned() {
            Ok(p) => Some(Session {
                _slot: p,
                _identity: identity,
            }),
            Err(_) => {
                self.refuse(Refusal::Capacity);
                None
            }
        }
    }

    fn count_address(&self, ip: IpAddr) -> Result<Option<AddressCount>, Refusal> {
        if self.per_ip == 0 {
            return Ok(None);
        }
        let mut m = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return Err(Refusal::PerAddress);
        }
        *n += 1;
        Ok(Some(AddressCount {
            ip,
            by_ip: self.by_ip.clone(),
        }))
    }
}

/// Resets a refused connection at once (SO_LINGER 0: the peer gets an RST,
/// not a connection that never answers).
pub fn reset(tcp: TcpStream) {
    // Deprecated because a non-zero linger blocks the thread on drop; a zero
    // linger never does.
    #[allow(deprecated)]
    let _ = tcp.set_linger(Some(Duration::ZERO));
    drop(tcp);
}

/// Accepts on `listener` until `stop` turns true, handing each connection
/// to `serve` in a task of its own. TLS listeners wait for a pending permit
/// before accepting; the plain listener takes its session slot at once and
/// resets the connection when full.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    gate: Gate,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Pending) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let permit = match &gate.pending {
            Some(p) => tokio::select! {
                p = p.clone().acquire_owned() => match p { Ok(p) => Some(p), Err(_) => return },
                _ = crate::server::shutdown::stopped(&mut stop) => return,
            },
            None => None,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: count, say so, back off
                    // rather than spin. Connections already open carry on.
                    metrics.accept_error(gate.listener);
                    tracing::warn!(listener = gate.listener.as_str(), error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = crate::server::shutdown::stopped(&mut stop) => return,
        };
        let address = match gate.count_address(peer.ip()) {
            Ok(a) => a,
            Err(why) => {
                metrics.refused(gate.listener, why);
                reset(tcp);
                continue;
            }
        };
        tokio::spawn(serve(Pending {
            tcp,
            guard: PendingGuard {
                _permit: permit,
                _address: address,
            },
        }));
    }
}
