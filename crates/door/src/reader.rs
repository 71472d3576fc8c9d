//! One reader: an OSDP Control Panel on its own thread, over TCP or a
//! serial device, and the door it guards.
//!
//! libosdp's Control Panel is not `Sync` and wants `refresh()` every few
//! milliseconds, so each reader gets a thread that owns it. The thread
//! sleeps on one channel that carries the reader's OSDP events (pushed by
//! libosdp's callback inside `refresh()`), the appliance's answers and the
//! uplink's comings and goings, so an answer is acted on the moment it
//! arrives.
//!
//! Sessions: the channel is opened and a Control Panel built for it. The
//! reader is *usable* once online with a secure channel (or, for a door with
//! `allow_insecure`, online in plain text: no Secure Channel is tried and
//! the key is never sent; logged and counted). A
//! reader not usable by the session deadline, or a usable one that goes
//! offline (libosdp would then wait 300 s on its own), ends the session;
//! the next one starts after a back-off that doubles up to a maximum. A
//! new Control Panel starts the OSDP handshake afresh.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libosdp::{
    Channel, ChannelError, ControlPanel, ControlPanelBuilder, OsdpCardFormats, OsdpCommand,
    OsdpCommandBuzzer, OsdpCommandLed, OsdpCommandOutput, OsdpEvent, OsdpEventCardRead, OsdpFlag,
    OsdpLedColor, OsdpLedParams, OsdpStatusReport, OsdpStatusReportType, PdCapEntity, PdCapability,
    PdInfoBuilder,
};
use portcullis_protocol::frame::CRED_OTHER;
use portcullis_protocol::Credential;
use tokio::sync::Notify;

use crate::buffer::EventBuffer;
use crate::config::{Door as DoorCfg, Osdp as OsdpCfg, Transport};
use crate::door::{Change, Door, Timings};
use crate::metrics::{FailCause, Metrics, Outcome, SessionEnd};
use crate::uplink::{Job, Verdict};

/// What wakes a reader thread.
#[derive(Debug)]
pub enum ReaderMsg {
    /// From libosdp's event callback.
    Osdp(OsdpEvent),
    /// The appliance's answer to card read `token`.
    Verdict {
        /// The card read.
        token: u64,
        /// The answer.
        verdict: Verdict,
    },
    /// The uplink is up (`true`) or down.
    Uplink(bool),
}

/// A non-blocking byte stream for libosdp; `dead` is set when it fails,
/// since libosdp itself treats every failed read as "no data".
struct Stream<S> {
    io: S,
    serial: bool,
    dead: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
}

impl<S: Read + Write + Send> Channel for Stream<S> {
    fn get_id(&self) -> i32 {
        0
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ChannelError> {
        match self.io.read(buf) {
            // A serial line has no end; a TCP stream that ends is gone.
            Ok(0) if self.serial => Err(ChannelError::WouldBlock),
            Ok(0) => {
                self.dead.store(true, Relaxed);
                Err(ChannelError::TransportError)
            }
            Ok(n) => {
                self.received.fetch_add(n as u64, Relaxed);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                Err(ChannelError::WouldBlock)
            }
            Err(_) => {
                self.dead.store(true, Relaxed);
                Err(ChannelError::TransportError)
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, ChannelError> {
        // libosdp stops sending at the first short write: push the whole
        // (small) packet, waiting briefly if the socket is full.
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut off = 0;
        while off < buf.len() {
            match self.io.write(&buf[off..]) {
                Ok(0) => break,
                Ok(n) => off += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    if Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(_) => {
                    self.dead.store(true, Relaxed);
                    return Err(ChannelError::TransportError);
                }
            }
        }
        if off == 0 {
            Err(ChannelError::WouldBlock)
        } else {
            Ok(off)
        }
    }

    // libosdp calls this before every send to discard stale input; a
    // stream keeps its bytes in order, so there is nothing to do.
    fn flush(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }

    fn close(&mut self) -> Result<(), ChannelError> {
        Ok(())
    }
}

fn open_tcp(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Opens a serial device raw, 8N1, at `baud`, non-blocking.
pub fn open_serial(path: &Path, baud: u32) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let speed = match baud {
        9_600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        _ => {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "unsupported baud rate",
            ))
        }
    };
    let fd = f.as_raw_fd();
    // SAFETY: termios calls on a descriptor this function owns, with a
    // zeroed struct that tcgetattr fills before anything reads it.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        t.c_cflag |= libc::CLOCAL | libc::CREAD;
        t.c_cflag &= !(libc::CSTOPB | libc::PARENB | libc::CRTSCTS);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        if libc::cfsetispeed(&mut t, speed) != 0 || libc::cfsetospeed(&mut t, speed) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::tcsetattr(fd, libc::TCSANOW, &t) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::tcflush(fd, libc::TCIOFLUSH);
    }
    Ok(f)
}

/// What the reader can do, learnt once it is online.
#[derive(Debug, Clone, Copy, Default)]
struct Caps {
    outputs: u8,
    leds: u8,
    buzzer: bool,
    inputs: u8,
}

fn cap_items(cp: &ControlPanel, cap: PdCapability) -> u8 {
    cp.get_capability(0, cap)
        .map(|c| libosdp_sys::osdp_pd_cap::from(c).num_items)
        .unwrap_or(0)
}

fn caps(cp: &ControlPanel) -> Caps {
    let e = || PdCapEntity::new(0, 0);
    Caps {
        outputs: cap_items(cp, PdCapability::OutputControl(e())),
        leds: cap_items(cp, PdCapability::LedControl(e())),
        buzzer: cap_items(cp, PdCapability::AudibleOutput(e())) > 0,
        inputs: cap_items(cp, PdCapability::ContactStatusMonitoring(e())),
    }
}

const OFF: OsdpLedParams = OsdpLedParams {
    control_code: 0,
    on_count: 0,
    off_count: 0,
    on_color: OsdpLedColor::None,
    off_color: OsdpLedColor::None,
    timer_count: 0,
};

/// A temporary LED pattern for `tenths` × 100 ms.
fn led_flash(
    on: OsdpLedColor,
    off: OsdpLedColor,
    on_count: u8,
    off_count: u8,
    tenths: u16,
) -> OsdpCommand {
    OsdpCommand::Led(OsdpCommandLed {
        reader: 0,
        led_number: 0,
        temporary: OsdpLedParams {
            control_code: 2,
            on_count,
            off_count,
            on_color: on,
            off_color: off,
            timer_count: tenths,
        },
        permanent: OFF,
    })
}

/// The LED's resting colour.
fn led_rest(color: OsdpLedColor) -> OsdpCommand {
    OsdpCommand::Led(OsdpCommandLed {
        reader: 0,
        led_number: 0,
        temporary: OFF,
        permanent: OsdpLedParams {
            control_code: 1,
            on_count: 1,
            off_count: 0,
            on_color: color,
            off_color: OsdpLedColor::None,
            timer_count: 0,
        },
    })
}

fn tenths(ms: u64) -> u16 {
    ms.div_ceil(100).clamp(1, u64::from(u16::MAX)) as u16
}

/// The credential a card read presents: a 128-bit raw read is a random
/// access number; anything else is a format this controller does not
/// translate, sent as such (its bytes are not) so the appliance answers
/// `unsupported_format`.
pub fn credential(c: &OsdpEventCardRead) -> Credential {
    if c.format == OsdpCardFormats::Unspecified && c.nr_bits == 128 && c.data.len() == 16 {
        let mut n = [0u8; 16];
        n.copy_from_slice(&c.data);
        Credential::Random128(n)
    } else {
        Credential::Unsupported {
            cred_type: CRED_OTHER,
            len: c.data.len().min(255) as u8,
        }
    }
}

/// A reader thread's state.
pub struct Reader {
    /// The door's configuration.
    pub cfg: DoorCfg,
    /// Shared OSDP timings.
    pub osdp: OsdpCfg,
    /// The Secure Channel Base Key.
    pub scbk: [u8; 16],
    /// Card reads to the uplink.
    pub jobs: tokio::sync::mpsc::Sender<Job>,
    /// This thread's inbox, and a sender for it.
    pub rx: Receiver<ReaderMsg>,
    /// See [`Reader::rx`].
    pub tx: Sender<ReaderMsg>,
    /// Door events out.
    pub buffer: Arc<Mutex<EventBuffer>>,
    /// Rung after an event is buffered.
    pub events: Arc<Notify>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Set at shutdown.
    pub stop: Arc<AtomicBool>,
    /// A card read still unanswered after this is denied here.
    pub give_up: Duration,
}

struct Session {
    cp: ControlPanel,
    dead: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    began: Instant,
    usable: bool,
    secure: bool,
    caps: Caps,
}

impl Reader {
    fn door(&self) -> u32 {
        self.cfg.door
    }

    fn open(&self) -> Result<Session, String> {
        let dead = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let channel: Box<dyn Channel> = match &self.cfg.transport {
            Transport::Tcp(addr) => Box::new(Stream {
                io: open_tcp(*addr).map_err(|e| format!("{addr}: {e}"))?,
                serial: false,
                dead: dead.clone(),
                received: received.clone(),
            }),
            Transport::Serial { path, baud } => Box::new(Stream {
                io: open_serial(path, *baud).map_err(|e| format!("{}: {e}", path.display()))?,
                serial: true,
                dead: dead.clone(),
                received: received.clone(),
            }),
        };
        let baud = match &self.cfg.transport {
            Transport::Serial { baud, .. } => *baud as i32,
            Transport::Tcp(_) => 115_200,
        };
        let mut pd = PdInfoBuilder::new()
            .name(&format!("door-{}", self.door()))
            .and_then(|b| b.address(i32::from(self.cfg.osdp_address)))
            .and_then(|b| b.baud_rate(baud))
            .map_err(|e| format!("reader settings: {e:?}"))?;
        if self.cfg.allow_insecure {
            // Plain text, and no key at all: with a key but without
            // EnforceSecure, libosdp falls back to the well-known default
            // key (SCBK-D) when the reader refuses the real one, and then
            // sends the real key to whatever answers on the line (KEYSET) —
            // a key that other doors may share.
        } else {
            // Without EnforceSecure a reader with the wrong key, or none,
            // comes online in plain text, and one in install mode is sent
            // the real key over the default one.
            pd = pd
                .secure_channel_key(self.scbk)
                .flag(OsdpFlag::EnforceSecure);
        }
        let mut cp = ControlPanelBuilder::new()
            .add_channel(channel, vec![pd])
            .build()
            .map_err(|e| format!("control panel: {e:?}"))?;
        // libosdp keeps (and never frees) this closure for the Control
        // Panel's life: it owns only a sender.
        let tx = self.tx.clone();
        cp.set_event_callback(move |_, ev| {
            let _ = tx.send(ReaderMsg::Osdp(ev));
            0
        });
        Ok(Session {
            cp,
            dead,
            received,
            began: Instant::now(),
            usable: false,
            secure: false,
            caps: Caps::default(),
        })
    }

    /// Runs until shutdown.
    pub fn run(self) {
        let mut door = Door::new(
            Timings {
                strike: Duration::from_millis(self.cfg.strike_ms),
                held_open: Duration::from_secs(self.cfg.held_open_s),
                offline_after: Duration::from_millis(self.osdp.offline_after_ms),
            },
            Instant::now(),
        );
        let mut st = State {
            uplink: false,
            pending: HashMap::new(),
            next_token: 1,
            alarm: false,
        };
        let mut backoff = Duration::from_millis(250);
        let max_backoff = Duration::from_millis(self.osdp.backoff_max_ms);
        let mut failures = 0u32;
        while !self.stop.load(Relaxed) {
            let end = match self.open() {
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(door = self.door(), error = %e, "reader not reachable");
                    }
                    SessionEnd::Unreachable
                }
                Ok(s) => {
                    let (end, was_usable) = self.session(s, &mut door, &mut st);
                    if was_usable {
                        failures = 0;
                        backoff = Duration::from_millis(250);
                    }
                    match end {
                        Some(end) => end,
                        None => break,
                    }
                }
            };
            self.metrics.session_end(end);
            failures += 1;
            // Wait, still serving the inbox (answers to drop, uplink state)
            // and the door's clock.
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Relaxed) {
                self.idle(&mut door, &mut st, until);
            }
            backoff = (backoff * 2).min(max_backoff);
        }
        if st.alarm {
            self.metrics.doors_in_alarm.fetch_sub(1, Relaxed);
        }
    }

    /// Between sessions: the inbox and the door's clock, no reader.
    fn idle(&self, door: &mut Door, st: &mut State, until: Instant) {
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        match self.rx.recv_timeout(wait) {
            Ok(ReaderMsg::Uplink(up)) => st.uplink = up,
            Ok(ReaderMsg::Verdict { token, .. }) => {
                // Answered while the reader is gone: nothing to show it on.
                st.pending.remove(&token);
            }
            Ok(ReaderMsg::Osdp(_)) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {}
        }
        let mut out = Vec::new();
        door.tick(Instant::now(), &mut out);
        self.emit(door, st, out);
    }

    /// One OSDP session; why it ended (`None` at shutdown) and whether the
    /// reader was usable during it.
    fn session(
        &self,
        mut s: Session,
        door: &mut Door,
        st: &mut State,
    ) -> (Option<SessionEnd>, bool) {
        let refresh = Duration::from_millis(self.osdp.refresh_ms);
        let deadline = Duration::from_millis(self.osdp.session_deadline_ms);
        let mut was_usable = false;
        let mut next_refresh = Instant::now();
        let end = loop {
            if self.stop.load(Relaxed) {
                break None;
            }
            let now = Instant::now();
            if now >= next_refresh {
                s.cp.refresh();
                next_refresh = now + refresh;
            }
            let online = s.cp.is_online(0);
            let secure = online && s.cp.is_sc_active(0);
            let usable = online && (secure || self.cfg.allow_insecure);
            if usable && !s.usable {
                s.usable = true;
                was_usable = true;
                s.secure = secure;
                s.caps = caps(&s.cp);
                let mut out = Vec::new();
                door.reader_usable(true, now, &mut out);
                self.emit(door, st, out);
                self.metrics.readers_usable.fetch_add(1, Relaxed);
                if secure {
                    tracing::info!(door = self.door(), "reader online with a secure channel");
                } else {
                    self.metrics.readers_insecure.fetch_add(1, Relaxed);
                    self.metrics.insecure_sessions.fetch_add(1, Relaxed);
                    tracing::warn!(
                        door = self.door(),
                        "reader online WITHOUT a secure channel (allow_insecure)"
                    );
                }
                self.on_usable(&mut s, st);
            } else if !usable && s.usable {
                tracing::warn!(door = self.door(), "reader went offline");
                break Some(SessionEnd::Lost);
            }
            if s.dead.load(Relaxed) {
                if s.usable {
                    tracing::warn!(door = self.door(), "reader connection closed");
                }
                break Some(SessionEnd::Lost);
            }
            if !s.usable && now.duration_since(s.began) > deadline {
                break Some(if s.received.load(Relaxed) > 0 {
                    tracing::warn!(door = self.door(), "reader answered but no secure channel came up: wrong key, or a reader that cannot do Secure Channel");
                    SessionEnd::NoSecureChannel
                } else {
                    tracing::warn!(door = self.door(), "reader connected but silent");
                    SessionEnd::Silent
                });
            }
            let mut out = Vec::new();
            door.tick(now, &mut out);
            self.emit(door, st, out);
            // The uplink answers every card read; this is a backstop should
            // it not, so a read is never left without an answer.
            if !st.pending.is_empty() {
                let stale: Vec<u64> = st
                    .pending
                    .iter()
                    .filter(|(_, at)| now.duration_since(**at) > self.give_up)
                    .map(|(t, _)| *t)
                    .collect();
                for t in stale {
                    st.pending.remove(&t);
                    self.metrics.fail_secure(FailCause::Timeout);
                    self.act(&mut s, door, Verdict::FailSecure(FailCause::Timeout));
                }
            }

            // Sleep until the next refresh or the next message.
            let wait = next_refresh.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(m) => {
                    self.handle(m, &mut s, door, st);
                    // Drain whatever else is waiting, then refresh at once
                    // so commands go out on this poll.
                    while let Ok(m) = self.rx.try_recv() {
                        self.handle(m, &mut s, door, st);
                    }
                    next_refresh = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
        };
        if s.usable {
            self.metrics.readers_usable.fetch_sub(1, Relaxed);
            if !s.secure {
                self.metrics.readers_insecure.fetch_sub(1, Relaxed);
            }
            let mut out = Vec::new();
            door.reader_usable(false, Instant::now(), &mut out);
            self.emit(door, st, out);
        }
        (end, was_usable)
    }

    fn on_usable(&self, s: &mut Session, st: &State) {
        let c = s.caps;
        if c.outputs <= self.cfg.strike_output {
            tracing::error!(
                door = self.door(),
                outputs = c.outputs,
                strike_output = self.cfg.strike_output,
                "the reader has no such output: the strike cannot be released"
            );
        }
        for (what, input) in [
            ("contact_input", self.cfg.contact_input),
            ("rex_input", self.cfg.rex_input),
        ] {
            if let Some(i) = input {
                if c.inputs <= i {
                    tracing::error!(
                        door = self.door(),
                        inputs = c.inputs,
                        input = i,
                        what,
                        "the reader has no such input"
                    );
                }
            }
        }
        self.show_uplink(s, st.uplink);
        if self.cfg.query_status {
            for t in [OsdpStatusReportType::Input, OsdpStatusReportType::Local] {
                let q = OsdpCommand::Status(OsdpStatusReport {
                    type_: t,
                    nr_entries: 0,
                    report: [0; 64],
                });
                let _ = s.cp.send_command(0, q);
            }
        }
    }

    /// The LED at rest: off while an appliance answers, amber while none
    /// does (card reads are then denied).
    fn show_uplink(&self, s: &mut Session, up: bool) {
        if s.usable && s.caps.leds > 0 {
            let color = if up {
                OsdpLedColor::None
            } else {
                OsdpLedColor::Amber
            };
            let _ = s.cp.send_command(0, led_rest(color));
        }
    }

    fn handle(&self, m: ReaderMsg, s: &mut Session, door: &mut Door, st: &mut State) {
        let now = Instant::now();
        match m {
            ReaderMsg::Uplink(up) => {
                if up != st.uplink {
                    st.uplink = up;
                    self.show_uplink(s, up);
                }
            }
            ReaderMsg::Osdp(OsdpEvent::CardRead(c)) => {
                if !s.usable {
                    self.metrics.reads_ignored.fetch_add(1, Relaxed);
                    return;
                }
                let token = st.next_token;
                st.next_token += 1;
                let job = Job {
                    door: self.door(),
                    credential: credential(&c),
                    token,
                    reply: self.tx.clone(),
                };
                match self.jobs.try_send(job) {
                    Ok(()) => {
                        st.pending.insert(token, now);
                    }
                    Err(_) => {
                        self.metrics.fail_secure(FailCause::Overloaded);
                        self.act(s, door, Verdict::FailSecure(FailCause::Overloaded));
                    }
                }
            }
            ReaderMsg::Osdp(OsdpEvent::Status(r)) => {
                let bits = &r.report[..r.nr_entries.min(r.report.len())];
                let mut out = Vec::new();
                match r.type_ {
                    OsdpStatusReportType::Input => {
                        // The exit button first: pressing it and opening the
                        // door in one report is an authorised exit.
                        if let Some(v) = self.cfg.rex_input.and_then(|i| bits.get(usize::from(i))) {
                            door.rex(*v != 0, now);
                        }
                        if let Some(v) = self
                            .cfg
                            .contact_input
                            .and_then(|i| bits.get(usize::from(i)))
                        {
                            door.contact(*v != 0, now, &mut out);
                        }
                    }
                    OsdpStatusReportType::Local => {
                        if let Some(v) = bits.first() {
                            door.tamper(*v != 0, &mut out);
                        }
                    }
                    _ => {}
                }
                self.emit(door, st, out);
            }
            ReaderMsg::Osdp(_) => {}
            ReaderMsg::Verdict { token, verdict } => {
                if st.pending.remove(&token).is_some() {
                    self.act(s, door, verdict);
                }
            }
        }
    }

    /// Shows an answer at the door. On a grant the strike is released
    /// first: libosdp sends one command per poll, and a refused command
    /// takes the reader offline with the rest of its queue.
    fn act(&self, s: &mut Session, door: &mut Door, v: Verdict) {
        let c = s.caps;
        match v {
            Verdict::Grant => {
                self.metrics.card_read(Outcome::Grant);
                if c.outputs > self.cfg.strike_output {
                    let out = OsdpCommand::Output(OsdpCommandOutput {
                        output_no: self.cfg.strike_output,
                        control_code: 5,
                        timer_count: tenths(self.cfg.strike_ms),
                    });
                    if let Err(e) = s.cp.send_command(0, out) {
                        tracing::error!(door = self.door(), error = ?e, "could not release the strike");
                    }
                }
                door.granted(Instant::now());
                if c.leds > 0 {
                    let t = tenths(self.cfg.strike_ms);
                    let _ = s.cp.send_command(
                        0,
                        led_flash(
                            OsdpLedColor::Green,
                            OsdpLedColor::None,
                            t.min(255) as u8,
                            0,
                            t,
                        ),
                    );
                }
                if c.buzzer {
                    let _ = s.cp.send_command(
                        0,
                        OsdpCommand::Buzzer(OsdpCommandBuzzer {
                            reader: 0,
                            control_code: 2,
                            on_count: 2,
                            off_count: 1,
                            rep_count: 1,
                        }),
                    );
                }
            }
            Verdict::Deny(_) | Verdict::Refused(_) => {
                self.metrics.card_read(Outcome::Deny);
                if c.leds > 0 {
                    let _ = s.cp.send_command(
                        0,
                        led_flash(OsdpLedColor::Red, OsdpLedColor::None, 15, 0, 15),
                    );
                }
            }
            Verdict::FailSecure(_) => {
                self.metrics.card_read(Outcome::FailSecure);
                // Red and amber alternating: denied, and not by the
                // appliance.
                if c.leds > 0 {
                    let _ = s.cp.send_command(
                        0,
                        led_flash(OsdpLedColor::Red, OsdpLedColor::Amber, 3, 3, 30),
                    );
                }
            }
        }
    }

    /// Buffers the door's changes and tells the uplink.
    fn emit(&self, door: &Door, st: &mut State, out: Vec<Change>) {
        if out.is_empty() {
            return;
        }
        let mut buf = self.buffer.lock().expect("buffer lock");
        for c in out {
            self.metrics.door_event(c.kind, c.begins);
            let p = buf.push(self.door(), c.kind, c.begins);
            tracing::info!(
                door = self.door(),
                kind = c.kind.as_str(),
                begins = c.begins,
                event_id = p.event.event_id,
                "door event"
            );
            if p.dropped > 0 {
                self.metrics
                    .events_dropped
                    .fetch_add(p.dropped as u64, Relaxed);
                tracing::error!(
                    dropped = p.dropped,
                    "event buffer full: oldest events dropped"
                );
            }
            if let Err(e) = p.persisted {
                self.metrics.events_unpersisted.fetch_add(1, Relaxed);
                tracing::error!(error = %e, "door event kept in memory only: the buffer file cannot be written");
            }
        }
        self.metrics
            .events_buffered
            .store(buf.len() as i64, Relaxed);
        drop(buf);
        self.events.notify_one();
        let alarm = door.in_alarm();
        if alarm != st.alarm {
            st.alarm = alarm;
            if alarm {
                self.metrics.doors_in_alarm.fetch_add(1, Relaxed);
            } else {
                self.metrics.doors_in_alarm.fetch_sub(1, Relaxed);
            }
        }
    }
}

struct State {
    uplink: bool,
    /// Card reads sent to the uplink, not yet answered.
    pending: HashMap<u64, Instant>,
    next_token: u64,
    alarm: bool,
}
