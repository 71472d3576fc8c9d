//! The load generator's Redis target: what an office would otherwise
//! deploy, driven by the same generator as the appliance — the same pacer,
//! the same connection count and depth, the same HDR recording from each
//! request's intended send time, the same 90 % known / 10 % unknown mix —
//! so latency at a fixed offered rate can be compared side by side.
//!
//! RESP over TLS 1.3 with a client certificate of the appliance's dev CA.
//! Two operations: a plain `GET cred:<n>` (the credential look-up), and
//! the look-up with a journal entry (`EVALSHA` of a script doing the `GET`
//! and an `XADD` to a stream), as `benches/compare.sh` loads Redis.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::pki::identity::Role;
use crate::pki::PkiDir;
use crate::tools::loadgen::{finish, start_pacer, Counters, LoadError, LoadReport, Pace};

/// The script behind [`RedisOp::LookupJournal`].
pub const LOOKUP_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) redis.call('XADD', 'journal', '*', 'k', KEYS[1], 'd', v and '1' or '0') return v";

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisOp {
    /// `GET`.
    Get,
    /// The script: `GET` plus `XADD` to a journal stream.
    LookupJournal,
}

/// A Redis run.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Redis's TLS port (loopback).
    pub addr: SocketAddr,
    /// Dev PKI directory (its CA signed Redis's certificate; a reader
    /// certificate is the client's).
    pub certs: PathBuf,
    /// The client certificate's name (role reader).
    pub client: String,
    /// Connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Measured duration.
    pub duration: Duration,
    /// Open loop: total offered requests per second.
    pub rate: Option<f64>,
    /// Keys loaded (`cred:000000000000` ...); requests pick from
    /// `keys / known_fraction` so that share hits.
    pub keys: usize,
    /// Share of requests for loaded keys.
    pub known_fraction: f64,
    /// Operation.
    pub op: RedisOp,
}

fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// One RESP reply's kind, as far as the generator cares.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// A bulk string (a hit) or a simple string.
    Value,
    /// A nil bulk string (a miss).
    Nil,
    /// An error reply.
    Error,
    /// An integer or anything else complete.
    Other,
}

/// Parses one complete reply at the start of `buf`: its kind and length,
/// or `None` when incomplete.
fn parse_reply(buf: &[u8]) -> Option<(Reply, usize)> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = &buf[..line_end];
    let after = line_end + 2;
    match line.first()? {
        b'+' => Some((Reply::Value, after)),
        b'-' => Some((Reply::Error, after)),
        b':' => Some((Reply::Other, after)),
        b'$' => {
            let n: i64 = std::str::from_utf8(&line[1..]).ok()?.parse().ok()?;
            if n < 0 {
                return Some((Reply::Nil, after));
            }
            let end = after
                .checked_add(usize::try_from(n).ok()?)?
                .checked_add(2)?;
            (buf.len() >= end).then_some((Reply::Value, end))
        }
        _ => Some((Reply::Other, after)),
    }
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(addr: SocketAddr, tls: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

/// Sends one command and reads one reply (set-up only).
async fn command(s: &mut Tls, args: &[&[u8]]) -> Result<Vec<u8>, LoadError> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        bulk(&mut out, a);
    }
    s.write_all(&out)
        .await
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((kind, n)) = parse_reply(&buf) {
            if kind == Reply::Error {
                return Err(LoadError::Setup(
                    String::from_utf8_lossy(&buf[..n]).trim().to_owned(),
                ));
            }
            return Ok(buf[..n].to_vec());
        }
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| LoadError::Setup(e.to_string()))?;
        if n == 0 {
            return Err(LoadError::Setup("Redis closed the connection".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Runs a load against Redis.
pub async fn run(opts: RedisOptions) -> Result<LoadReport, LoadError> {
    if !opts.addr.ip().is_loopback() {
        return Err(LoadError::NotLoopback(opts.addr));
    }
    if opts.connections == 0 || opts.depth == 0 || opts.keys == 0 {
        return Err(LoadError::Options(
            "connections, depth and keys must be at least 1".into(),
        ));
    }
    let pki = PkiDir::new(&opts.certs);
    let me = pki.client(Role::Reader, &opts.client);
    let tls = crate::protocol::tls::client_config(&pki.ca_cert(), &me.cert, &me.key)
        .map_err(|e| LoadError::Setup(format!("client certificate: {e}")))?;
    // The script, once.
    let sha = {
        let mut s = connect(opts.addr, tls.clone())
            .await
            .map_err(|e| LoadError::Setup(format!("connecting to Redis: {e}")))?;
        let r = command(&mut s, &[b"SCRIPT", b"LOAD", LOOKUP_SCRIPT.as_bytes()]).await?;
        let text = String::from_utf8_lossy(&r);
        text.lines().nth(1).unwrap_or_default().trim().to_owned()
    };
    let started = Instant::now();
    let mut joins = Vec::new();
    for _ in 0..opts.connections {
        let tls = tls.clone();
        let addr = opts.addr;
        joins.push(tokio::spawn(async move { connect(addr, tls).await }));
    }
    let mut conns = Vec::new();
    let mut report = LoadReport::default();
    for j in joins {
        match j.await {
            Ok(Ok(c)) => conns.push(c),
            _ => report.connect_failures += 1,
        }
    }
    report.connect_secs = started.elapsed().as_secs_f64();
    report.connected = conns.len();
    if opts.duration.is_zero() || conns.is_empty() {
        return Ok(report);
    }
    let counters = Arc::new(Counters::default());
    let start = Instant::now() + Duration::from_millis(50);
    let deadline = start + opts.duration;
    let (pacer_rx, pacer) = start_pacer(conns.len(), opts.rate, start, deadline);
    let range = ((opts.keys as f64) / opts.known_fraction.max(0.01)).ceil() as u64;
    let mut tasks = Vec::new();
    for (i, (c, rx)) in conns.into_iter().zip(pacer_rx).enumerate() {
        let w = Worker {
            op: opts.op,
            sha: sha.clone(),
            keys: opts.keys as u64,
            range,
            depth: opts.depth,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            counters: counters.clone(),
        };
        tasks.push(tokio::spawn(w.run(c, start, deadline, rx)));
    }
    finish(&mut report, tasks, pacer, &counters, opts.duration).await;
    Ok(report)
}

struct Worker {
    op: RedisOp,
    sha: String,
    keys: u64,
    range: u64,
    depth: usize,
    rng: u64,
    counters: Arc<Counters>,
}

impl Worker {
    fn next_rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Appends one request to `out`; whether it should hit.
    fn request(&mut self, out: &mut Vec<u8>) -> bool {
        let k = self.next_rand() % self.range;
        let key = format!("cred:{k:012}");
        match self.op {
            RedisOp::Get => {
                out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
                bulk(out, key.as_bytes());
            }
            RedisOp::LookupJournal => {
                out.extend_from_slice(b"*4\r\n$7\r\nEVALSHA\r\n");
                bulk(out, self.sha.as_bytes());
                out.extend_from_slice(b"$1\r\n1\r\n");
                bulk(out, key.as_bytes());
            }
        }
        k < self.keys
    }

    async fn run(
        mut self,
        mut s: Tls,
        start: Instant,
        deadline: Instant,
        pacer: Option<mpsc::UnboundedReceiver<Instant>>,
    ) -> Histogram<u64> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).expect("bounds");
        let mut pace = Pace::new(pacer, deadline);
        let open = pace.open();
        // Answers come back in order: what each one answers.
        let mut in_flight: VecDeque<(Instant, bool)> = VecDeque::with_capacity(self.depth);
        let mut out = Vec::with_capacity(64 * self.depth);
        let mut buf = Vec::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        tokio::time::sleep_until(start.into()).await;
        if !open {
            let now = Instant::now();
            for _ in 0..self.depth {
                let hit = self.request(&mut out);
                in_flight.push_back((now, hit));
            }
        }
        let give_up = tokio::time::sleep_until((deadline + Duration::from_secs(10)).into());
        tokio::pin!(give_up);
        loop {
            while in_flight.len() < self.depth {
                let Some(t) = pace.backlog.pop_front() else {
                    break;
                };
                let hit = self.request(&mut out);
                in_flight.push_back((t, hit));
            }
            if !out.is_empty() {
                if s.write_all(&out).await.is_err() {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                out.clear();
            }
            if pace.finished(in_flight.is_empty()) {
                break;
            }
            tokio::select! {
                _ = pace.next(), if pace.pacing() => {}
                r = s.read(&mut chunk) => {
                    let n = match r {
                        Ok(0) | Err(_) => {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let now = Instant::now();
                    let mut used = 0;
                    while let Some((kind, len)) = parse_reply(&buf[used..]) {
                        used += len;
                        let Some((intended, hit)) = in_flight.pop_front() else {
                            self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        match kind {
                            Reply::Error => {
                                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            k => {
                                if (k == Reply::Value) != hit {
                                    self.counters.wrong.fetch_add(1, Ordering::Relaxed);
                                }
                                let lat = now.saturating_duration_since(intended);
                                let _ = hist.record(lat.as_nanos().max(1) as u64);
                                self.counters.answered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if !open && now < deadline {
                            let hit = self.request(&mut out);
                            in_flight.push_back((now, hit));
                        }
                    }
                    buf.drain(..used);
                }
                _ = &mut give_up => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        hist
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_whole_or_not_at_all() {
        assert_eq!(parse_reply(b"$-1\r\n"), Some((Reply::Nil, 5)));
        assert_eq!(
            parse_reply(b"$3\r\nabc\r\n$-1\r\n"),
            Some((Reply::Value, 9))
        );
        assert_eq!(parse_reply(b"$3\r\nab"), None);
        assert_eq!(parse_reply(b"-ERR x\r\n"), Some((Reply::Error, 8)));
        assert_eq!(parse_reply(b":12\r\n"), Some((Reply::Other, 5)));
        assert_eq!(parse_reply(b"$3\r"), None);
    }
}
