//! The door controller (`portcullis-door`) end to end, every part its own
//! process: the appliance, the controller, and OSDP readers from the PyPI
//! `libosdp` wheel (an independent implementation) speaking Secure Channel
//! over TCP and over a pseudo-terminal. What the readers are told to do
//! (LED, buzzer, the strike output) is what the tests check.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portcullis::api::Op;
use portcullis::pki::identity::Role;
use portcullis::protocol::DoorEventKind;
use portcullis::store::journal::Journaled;
use portcullis::store::{cf, Store};
use serde_json::{json, Value};

use crate::common::{fixture_person, http_get, random_number};
use crate::process::{Proc, ProcHarness};

const KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const WRONG_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const CMD_OUTPUT: u64 = 1;
const CMD_LED: u64 = 2;
const CMD_BUZZER: u64 = 3;
const RED: u64 = 1;
const GREEN: u64 = 2;
const AMBER: u64 = 3;

fn door_binary() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_portcullis")).with_file_name("portcullis-door");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `make test`)",
        p.display()
    );
    p
}

fn python() -> PathBuf {
    crate::common::peer_python()
}

/// OSDP readers in a Python process of their own.
struct Readers {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    /// TCP port or pty path of each reader.
    endpoints: Vec<String>,
}

impl Readers {
    fn start(key: &str, count: usize, pty: bool) -> Self {
        Self::start_at(key, count, pty, 0)
    }

    /// Readers on TCP ports from `port` (0: any free ones); `key` empty for
    /// readers that speak plain text only.
    fn start_at(key: &str, count: usize, pty: bool, port: u16) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/osdp_reader.py");
        let mut cmd = Command::new(python());
        cmd.arg(script);
        // An empty key: a reader without a Secure Channel key (plain text).
        if !key.is_empty() {
            cmd.args(["--scbk", key]);
        }
        cmd.args(["--count", &count.to_string()])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if pty {
            cmd.arg("--pty");
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut r = Readers {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            endpoints: Vec::new(),
        };
        for _ in 0..count {
            let v = r.wait(10, |v| v["ev"] == "listening" || v["ev"] == "pty");
            r.endpoints.push(if pty {
                v["path"].as_str().unwrap().to_owned()
            } else {
                v["port"].to_string()
            });
        }
        r
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.wait(5, |v| v["ev"] == "submitted" && v["ok"] == true);
    }

    /// The next line matching `f` (lines before it are kept in `seen`).
    fn wait(&mut self, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if f(&v) {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "readers: nothing matching within {secs} s; saw {:?}",
                    self.seen
                ),
            }
        }
    }

    fn online(&mut self, pd: u64) {
        self.wait(15, |v| {
            v["ev"] == "online" && v["pd"] == pd && v["sc"] == true
        });
    }

    /// Waits until reader `pd` is online in plain text.
    fn online_plain(&mut self, pd: u64) {
        self.wait(15, |v| {
            v["ev"] == "online" && v["pd"] == pd && v["sc"] == false
        });
    }

    /// Commands reader `pd` receives within `secs`.
    fn commands(&mut self, pd: u64, secs: f64) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut out = Vec::new();
        while let Ok(v) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v.clone());
            if v["ev"] == "command" && v["pd"] == pd {
                out.push(v["cmd"].clone());
            }
        }
        out
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running controller.
struct Controller {
    child: Child,
    metrics: SocketAddr,
}

impl Controller {
    fn start(config: &Path, log: &Path) -> Self {
        let mut child = Command::new(door_binary())
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = log.to_owned();
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if let Some(i) = line.find("metrics_addr=") {
                    let a = line[i + 13..].split_whitespace().next().unwrap().to_owned();
                    let _ = tx.send(a);
                }
            }
        });
        let metrics = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the controller did not start")
            .parse()
            .unwrap();
        Controller { child, metrics }
    }

    async fn metric(&self, name: &str) -> f64 {
        let (_, text) = http_get(self.metrics, "/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
    }

    async fn until_metric(&self, name: &str, f: impl Fn(f64) -> bool) -> f64 {
        for _ in 0..300 {
            let v = self.metric(name).await;
            if f(v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{name} never reached the expected value: {}",
            self.metric(name).await
        )
    }

    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An appliance process on a fixed reader port (so it can be restarted
/// where the controller expects it), with a card and doors 1 and 2
/// registered to the controller's certificate.
struct Site {
    h: ProcHarness,
    dir: tempfile::TempDir,
    number: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Site {
    async fn new() -> (Self, Proc) {
        let port = free_port();
        let h = ProcHarness::new(|c| {
            c.reader.listen = format!("127.0.0.1:{port}").parse().unwrap();
        });
        let p = h.start();
        h.departments(&p).await;
        let admin = h.admin(&p, Role::SecurityOffice, "admin");
        let (s, v) = admin
            .call(Op::ReaderRegister, &[&"proc-reader"])
            .json(&json!({ "doors": [1, 2] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        let (s, v) = admin
            .call(Op::AccessSet, &[])
            .json(&json!({ "door_groups": { "d": [1, 2] }, "schedules": {}, "levels": { "l": { "door_group": "d" } }, "holidays": [] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        let (s, v) = admin
            .call(Op::HolderCreate, &[])
            .json(&fixture_person(1))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 201, "{v}");
        let holder = v["id"].as_u64().unwrap();
        let (s, v) = admin
            .call(Op::HolderLevels, &[&holder])
            .json(&json!({ "levels": ["l"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        let (s, v) = admin
            .call(Op::CardIssue, &[])
            .json(&json!({ "holder": holder }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 201, "{v}");
        let n: portcullis::crypto::numbers::AccessNumber =
            v["access_number"].as_str().unwrap().parse().unwrap();
        let number = hex::encode(n.as_ref());
        let dir = tempfile::tempdir().unwrap();
        (Site { h, dir, number }, p)
    }

    fn key_file(&self, name: &str, key: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{key}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    /// A controller configuration for `doors` (door, transport TOML), with
    /// short timings so the tests run quickly.
    fn config(&self, doors: &[(u32, String)], max_events: usize) -> PathBuf {
        let me = self.h.pki.client(Role::Reader, "proc-reader");
        let key = self.key_file("door.scbk", KEY);
        let mut t = format!(
            r#"name = "test-controller"
appliances = ["{appliance}"]
[tls]
ca_cert = "{ca}"
cert = "{cert}"
key = "{key_pem}"
[events]
path = "{events}"
max_events = {max_events}
[metrics]
listen = "127.0.0.1:0"
[uplink]
verify_timeout_ms = 1000
backoff_min_ms = 100
backoff_max_ms = 400
ping_ms = 1000
[osdp]
session_deadline_ms = 1500
offline_after_ms = 1000
backoff_max_ms = 1000
"#,
            appliance = self.h.config.reader.listen,
            ca = self.h.pki.ca_cert().display(),
            cert = me.cert.display(),
            key_pem = me.key.display(),
            events = self.dir.path().join("events.log").display(),
        );
        for (door, transport) in doors {
            t.push_str(&format!(
                r#"
[[doors]]
door = {door}
transport = {transport}
osdp_address = 101
scbk_file = "{key}"
strike_ms = 3000
contact_input = 0
rex_input = 1
held_open_s = 1
query_status = false
"#,
                key = key.display()
            ));
        }
        let p = self.dir.path().join("door.toml");
        std::fs::write(&p, t).unwrap();
        p
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("controller.log")
    }
}

fn tcp(port: &str) -> String {
    format!("{{ tcp = \"127.0.0.1:{port}\" }}")
}

fn is(cmd: &Value, command: u64) -> bool {
    cmd["command"] == command
}

async fn alarms(h: &ProcHarness, p: &Proc) -> Vec<(u64, String)> {
    let (s, v) = h
        .admin(p, Role::SecurityOffice, "admin")
        .call(Op::AlarmsList, &[])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let mut out: Vec<(u64, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["door"].as_u64().unwrap(),
                a["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn until_alarms(h: &ProcHarness, p: &Proc, want: &[(u64, &str)]) {
    let want: Vec<(u64, String)> = want.iter().map(|(d, k)| (*d, k.to_string())).collect();
    let mut got = Vec::new();
    for _ in 0..200 {
        got = alarms(h, p).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alarms on the appliance: {got:?}, expected {want:?}");
}

#[tokio::test]
async fn card_reads_open_the_door_over_osdp_with_secure_channel_on_tcp_and_serial() {
    let (site, p) = Site::new().await;
    let mut tcp_readers = Readers::start(KEY, 1, false);
    let mut serial = Readers::start(KEY, 1, true);
    let cfg = site.config(
        &[
            (1, tcp(&tcp_readers.endpoints[0])),
            (
                2,
                format!(
                    "{{ serial = {{ path = \"{}\", baud = 115200 }} }}",
                    serial.endpoints[0]
                ),
            ),
        ],
        100,
    );
    let c = Controller::start(&cfg, &site.log());
    tcp_readers.online(0);
    serial.online(0);
    c.until_metric("portcullis_controller_uplink_up", |v| v == 1.0)
        .await;
    c.until_metric("portcullis_controller_readers_usable", |v| v == 2.0)
        .await;
    // Settle: the LED's resting state is sent on connecting.
    tcp_readers.commands(0, 0.3);
    serial.commands(0, 0.3);

    // GRANT: the strike first (output 0, temporary on for 3 s), then the
    // green LED and a beep.
    tcp_readers.send(&format!("card 0 {}", site.number));
    let cmds = tcp_readers.commands(0, 1.0);
    assert!(cmds.len() >= 3, "{cmds:?}");
    assert!(is(&cmds[0], CMD_OUTPUT), "strike first: {cmds:?}");
    assert_eq!(
        (
            &cmds[0]["output_no"],
            &cmds[0]["control_code"],
            &cmds[0]["timer_count"]
        ),
        (&json!(0), &json!(5), &json!(30))
    );
    assert!(
        is(&cmds[1], CMD_LED) && cmds[1]["on_color"] == GREEN,
        "{cmds:?}"
    );
    assert!(is(&cmds[2], CMD_BUZZER), "{cmds:?}");

    // The same card at the serial reader, door 2.
    serial.send(&format!("card 0 {}", site.number));
    let cmds = serial.commands(0, 1.0);
    assert!(!cmds.is_empty() && is(&cmds[0], CMD_OUTPUT), "{cmds:?}");

    // DENY (unknown number): red, and no strike.
    tcp_readers.send(&format!("card 0 {}", hex::encode(random_number().as_ref())));
    let cmds = tcp_readers.commands(0, 1.0);
    assert!(!cmds.iter().any(|c| is(c, CMD_OUTPUT)), "{cmds:?}");
    assert!(
        cmds.iter().any(|c| is(c, CMD_LED) && c["on_color"] == RED),
        "{cmds:?}"
    );

    // A 26-bit Wiegand card: the appliance answers unsupported_format.
    tcp_readers.send("wiegand 0 26 0155aac0");
    let cmds = tcp_readers.commands(0, 1.0);
    assert!(!cmds.iter().any(|c| is(c, CMD_OUTPUT)), "{cmds:?}");
    assert!(
        cmds.iter().any(|c| is(c, CMD_LED) && c["on_color"] == RED),
        "{cmds:?}"
    );

    assert_eq!(
        c.metric("portcullis_controller_card_reads_total{outcome=\"grant\"}")
            .await,
        2.0
    );
    assert_eq!(
        c.metric("portcullis_controller_card_reads_total{outcome=\"deny\"}")
            .await,
        2.0
    );
    assert_eq!(
        c.metric("portcullis_controller_readers_insecure").await,
        0.0
    );
    let (_, text) = http_get(p.metrics, "/metrics").await;
    assert!(
        text.contains(
            "portcullis_verifications_total{decision=\"deny\",reason=\"unsupported_format\"} 1"
        ),
        "{text}"
    );
    let (s, _) = http_get(c.metrics, "/readyz").await;
    assert_eq!(s, 200);
}

/// A reader without a key is refused at a door that requires the Secure
/// Channel (the default) and served in plain text at a door configured with
/// `allow_insecure`, where it is counted and never sent the key; and an
/// appliance in the controller's list that does not answer is passed over
/// for the next one.
#[tokio::test]
async fn plain_text_readers_only_where_allowed_and_a_dead_appliance_is_passed_over() {
    let (site, p) = Site::new().await;
    let mut readers = Readers::start("", 2, false);
    let cfg = site.config(
        &[
            (1, tcp(&readers.endpoints[0])),
            (2, tcp(&readers.endpoints[1])),
        ],
        100,
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    let alive = site.h.config.reader.listen.to_string();
    let dead = format!("127.0.0.1:{}", free_port());
    let text = text
        .replace(
            &format!("appliances = [\"{alive}\"]"),
            &format!("appliances = [\"{dead}\", \"{alive}\"]"),
        )
        .replace(
            "[[doors]]\ndoor = 2\n",
            "[[doors]]\ndoor = 2\nallow_insecure = true\n",
        );
    assert!(text.contains(&dead) && text.contains("allow_insecure = true"));
    std::fs::write(&cfg, text).unwrap();
    let c = Controller::start(&cfg, &site.log());
    // Up through the second appliance of the list.
    c.until_metric("portcullis_controller_uplink_up", |v| v == 1.0)
        .await;
    readers.online_plain(1);
    c.until_metric("portcullis_controller_readers_usable", |v| v == 1.0)
        .await;
    c.until_metric("portcullis_controller_readers_insecure", |v| v == 1.0)
        .await;
    c.until_metric(
        "portcullis_controller_reader_sessions_failed_total{cause=\"no_secure_channel\"}",
        |v| v >= 1.0,
    )
    .await;
    readers.commands(1, 0.3);

    // The door that allows plain text opens for the card.
    readers.send(&format!("card 1 {}", site.number));
    let cmds = readers.commands(1, 1.0);
    assert!(
        !cmds.is_empty() && is(&cmds[0], CMD_OUTPUT),
        "strike at the door that allows plain text: {cmds:?}"
    );
    // The door that requires the Secure Channel tells its reader nothing.
    readers.send(&format!("card 0 {}", site.number));
    let cmds = readers.commands(0, 1.0);
    assert!(cmds.is_empty(), "{cmds:?}");
    assert_eq!(
        c.metric("portcullis_controller_card_reads_total{outcome=\"grant\"}")
            .await,
        1.0
    );
    // No Secure Channel was set up with the keyless reader: before plain
    // text meant "no key at all", libosdp fell back to the published default
    // key with it and then sent it the door's real key.
    assert!(
        !readers
            .seen
            .iter()
            .any(|v| v["ev"] == "online" && v["sc"] == true),
        "a keyless reader got a secure channel, so it was sent the key: {:?}",
        readers.seen
    );
    let (s, body) = http_get(c.metrics, "/readyz").await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("1 of 2 readers not usable"), "{body}");
    // The grant was decided by the appliance that answers.
    let (_, text) = http_get(p.metrics, "/metrics").await;
    assert!(
        text.contains("portcullis_verifications_total{decision=\"grant\",reason=\"granted\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_reader_with_the_wrong_key_gets_no_session_and_is_counted() {
    let (site, p) = Site::new().await;
    let mut readers = Readers::start(WRONG_KEY, 1, false);
    let cfg = site.config(&[(1, tcp(&readers.endpoints[0]))], 100);
    let c = Controller::start(&cfg, &site.log());
    c.until_metric(
        "portcullis_controller_reader_sessions_failed_total{cause=\"no_secure_channel\"}",
        |v| v >= 1.0,
    )
    .await;
    // The door is reported: its reader is unusable.
    until_alarms(&site.h, &p, &[(1, "reader_offline")]).await;
    readers.send(&format!("card 0 {}", site.number));
    let cmds = readers.commands(0, 1.5);
    assert!(
        cmds.is_empty(),
        "a reader without a session is told nothing: {cmds:?}"
    );
    assert!(
        !readers
            .seen
            .iter()
            .any(|v| v["ev"] == "online" && v["sc"] == true),
        "no secure channel with the wrong key"
    );
    assert_eq!(c.metric("portcullis_controller_readers_usable").await, 0.0);
    assert_eq!(
        c.metric("portcullis_controller_card_reads_total{outcome=\"grant\"}")
            .await,
        0.0
    );
    let (s, body) = http_get(c.metrics, "/readyz").await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("1 of 1 readers not usable"), "{body}");
}

#[tokio::test]
async fn forced_held_open_and_tamper_become_alarms_on_the_appliance() {
    let (site, p) = Site::new().await;
    let mut readers = Readers::start(KEY, 1, false);
    let cfg = site.config(&[(1, tcp(&readers.endpoints[0]))], 100);
    let c = Controller::start(&cfg, &site.log());
    readers.online(0);
    c.until_metric("portcullis_controller_uplink_up", |v| v == 1.0)
        .await;
    readers.send("door 0 closed");

    // Forced: opened with no grant and no exit request.
    readers.send("door 0 open");
    until_alarms(&site.h, &p, &[(1, "forced_open")]).await;
    readers.send("door 0 closed");
    until_alarms(&site.h, &p, &[]).await;

    // An exit: the button, then the door. No alarm.
    readers.send("rex 0 on");
    readers.send("door 0 open");
    readers.send("rex 0 off");
    readers.send("door 0 closed");

    // Held: a granted opening that lasts beyond the held time (1 s).
    readers.send(&format!("card 0 {}", site.number));
    readers.wait(5, |v| {
        v["ev"] == "command" && v["cmd"]["command"] == CMD_OUTPUT
    });
    readers.send("door 0 open");
    until_alarms(&site.h, &p, &[(1, "held_open")]).await;
    readers.send("door 0 closed");
    until_alarms(&site.h, &p, &[]).await;

    readers.send("tamper 0 on");
    until_alarms(&site.h, &p, &[(1, "tamper")]).await;
    readers.send("tamper 0 off");
    until_alarms(&site.h, &p, &[]).await;

    let (_, text) = http_get(p.metrics, "/metrics").await;
    for (kind, n) in [("forced_open", 1), ("held_open", 1), ("tamper", 1)] {
        assert!(
            text.contains(&format!(
                "portcullis_door_events_total{{kind=\"{kind}\"}} {n}"
            )),
            "{kind}: {text}"
        );
    }
    assert_eq!(c.metric("portcullis_controller_doors_in_alarm").await, 0.0);
    assert_eq!(c.metric("portcullis_controller_events_buffered").await, 0.0);
}

/// The door events of the journal, in journal order.
fn journaled_events(h: &ProcHarness) -> Vec<(u64, DoorEventKind, bool)> {
    let store = Store::open_read_only(h.data_dir()).unwrap();
    let db = store.db();
    let mut out = Vec::new();
    for item in db.iterator_cf(store.cf(cf::JOURNAL), rocksdb::IteratorMode::Start) {
        let (_, v) = item.unwrap();
        if let Journaled::Event(e) = Journaled::decode(&v).unwrap() {
            out.push((e.event.event_id, e.event.kind, e.event.begins));
        }
    }
    out
}

#[tokio::test]
async fn with_the_appliance_killed_doors_fail_secure_and_events_arrive_in_order_after() {
    let (site, p) = Site::new().await;
    let mut readers = Readers::start(KEY, 1, false);
    // Room for six events.
    let cfg = site.config(&[(1, tcp(&readers.endpoints[0]))], 6);
    let c = Controller::start(&cfg, &site.log());
    readers.online(0);
    c.until_metric("portcullis_controller_uplink_up", |v| v == 1.0)
        .await;
    readers.send("door 0 closed");
    readers.commands(0, 0.3);

    p.kill9();
    c.until_metric("portcullis_controller_uplink_up", |v| v == 0.0)
        .await;
    // The reader shows it (amber at rest); a card is denied at the door.
    let cmds = readers.commands(0, 0.5);
    assert!(
        cmds.iter()
            .any(|c| is(c, CMD_LED) && c["on_color"] == AMBER),
        "{cmds:?}"
    );
    readers.send(&format!("card 0 {}", site.number));
    let cmds = readers.commands(0, 1.0);
    assert!(
        !cmds.iter().any(|c| is(c, CMD_OUTPUT)),
        "fail secure: {cmds:?}"
    );
    assert!(
        cmds.iter()
            .any(|c| is(c, CMD_LED) && c["on_color"] == RED && c["off_color"] == AMBER),
        "{cmds:?}"
    );
    assert_eq!(
        c.metric("portcullis_controller_fail_secure_total{cause=\"unreachable\"}")
            .await,
        1.0
    );

    // Eight events while the appliance is down, the controller itself
    // killed half-way: the six newest survive, the two oldest are dropped
    // and counted.
    for _ in 0..2 {
        readers.send("door 0 open");
        readers.send("door 0 closed");
    }
    c.until_metric("portcullis_controller_events_buffered", |v| v == 4.0)
        .await;
    c.kill9();
    let c = Controller::start(&cfg, &site.log());
    c.until_metric("portcullis_controller_readers_usable", |v| v == 1.0)
        .await;
    readers.send("tamper 0 on");
    readers.send("tamper 0 off");
    readers.send("door 0 open");
    readers.send("door 0 closed");
    c.until_metric("portcullis_controller_events_dropped_total", |v| v == 2.0)
        .await;
    assert_eq!(c.metric("portcullis_controller_events_buffered").await, 6.0);

    let p = site.h.start();
    c.until_metric("portcullis_controller_events_buffered", |v| v == 0.0)
        .await;
    until_alarms(&site.h, &p, &[]).await;
    assert!(p.terminate().success());
    let events = journaled_events(&site.h);
    let kinds: Vec<(DoorEventKind, bool)> = events.iter().map(|(_, k, b)| (*k, *b)).collect();
    use DoorEventKind::{ForcedOpen, Tamper};
    assert_eq!(
        kinds,
        [
            (ForcedOpen, true),
            (ForcedOpen, false),
            (Tamper, true),
            (Tamper, false),
            (ForcedOpen, true),
            (ForcedOpen, false),
        ],
        "the six newest, in order"
    );
    assert!(events.windows(2).all(|w| w[0].0 < w[1].0), "{events:?}");
}

#[tokio::test]
async fn a_lost_reader_is_reported_and_returns_by_itself() {
    let (site, p) = Site::new().await;
    let readers = Readers::start(KEY, 1, false);
    let port = readers.endpoints[0].clone();
    let cfg = site.config(&[(1, tcp(&port))], 100);
    let c = Controller::start(&cfg, &site.log());
    c.until_metric("portcullis_controller_readers_usable", |v| v == 1.0)
        .await;
    // The reader's power is cut.
    drop(readers);
    c.until_metric("portcullis_controller_readers_usable", |v| v == 0.0)
        .await;
    until_alarms(&site.h, &p, &[(1, "reader_offline")]).await;
    // Back, on the same port: a new session without a restart, the alarm
    // over, and the door works.
    let mut readers = Readers::start_at(KEY, 1, false, port.parse().unwrap());
    c.until_metric("portcullis_controller_readers_usable", |v| v == 1.0)
        .await;
    until_alarms(&site.h, &p, &[]).await;
    readers.commands(0, 0.3);
    readers.send(&format!("card 0 {}", site.number));
    let cmds = readers.commands(0, 1.0);
    assert!(cmds.first().is_some_and(|c| is(c, CMD_OUTPUT)), "{cmds:?}");
    assert!(
        c.metric("portcullis_controller_reader_sessions_failed_total{cause=\"lost\"}")
            .await
            >= 1.0
    );
}
