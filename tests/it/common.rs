//! Test harness: a PKI, a data directory and an appliance on port 0.

use portcullis::api::Op;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis::client::{AdminClient, ClientError, ReaderClient};
use portcullis::clock::{ManualClock, SharedClock};
use portcullis::crypto::numbers::AccessNumber;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;
use portcullis::{Appliance, Config};
use rustls::ClientConfig;
use serde_json::json;
use tempfile::TempDir;

pub const READER: &str = "door-ctl-1";
pub const OTHER_READER: &str = "door-ctl-2";
pub const READER_DOORS: [u32; 2] = [1, 2];

pub struct Harness {
    pub dir: TempDir,
    pub pki: PkiDir,
    pub clock: ManualClock,
    pub config: Config,
    pub app: Option<Appliance>,
}

impl Harness {
    /// A harness with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A harness whose configuration `tweak` may adjust.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = PkiDir::new(dir.path().join("certs"));
        pki.init(false).expect("pki init");
        for (role, name) in [
            (Role::SecurityOffice, "admin"),
            (Role::CardOffice, "clerk"),
            (Role::Auditor, "audit"),
            (Role::Reader, READER),
            (Role::Reader, OTHER_READER),
            (Role::Reader, "unregistered"),
        ] {
            pki.issue(role, name).expect("issue");
        }
        let mut config = Config {
            data_dir: dir.path().join("data"),
            keys_dir: dir.path().join("keys"),
            ..Config::default()
        };
        // Never the working directory (the clone, under cargo).
        config.backup.dir = dir.path().join("backups");
        config.tls.ca_cert = pki.ca_cert();
        config.tls.server_cert = pki.server().cert;
        config.tls.server_key = pki.server().key;
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        config.reader.listen = any;
        config.admin.listen = any;
        config.metrics.listen = any;
        config.reader.max_in_flight = 1024;
        tweak(&mut config);
        let clock = ManualClock::starting_now();
        let mut h = Harness {
            dir,
            pki,
            clock,
            config,
            app: None,
        };
        h.boot().await;
        h.register(READER, &READER_DOORS).await;
        let (s, v) = h
            .admin()
            .call(Op::DlcPut, &[&"Physics"])
            .json(&json!({ "code": "Physics", "name": "Physics", "kind": "department" }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        h.register(OTHER_READER, &[3]).await;
        let (s, v) = h
            .admin()
            .call(Op::AccessSet, &[])
            .json(&json!({
                "door_groups": { "all": [1, 2, 3] },
                "schedules": {},
                "levels": { "everywhere": { "door_group": "all" } },
                "holidays": []
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        h
    }

    async fn boot(&mut self) {
        self.try_boot().await.expect("appliance starts");
    }

    /// Starts the appliance on the harness's data; the error if it refuses.
    pub async fn try_boot(&mut self) -> Result<(), portcullis::app::StartError> {
        let clock: SharedClock = Arc::new(self.clock.clone());
        let app = Appliance::start(self.config.clone(), clock).await?;
        self.app = Some(app);
        Ok(())
    }

    /// Stops the appliance (draining) and leaves it stopped.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown(Duration::from_secs(5)).await;
        }
    }

    pub fn app(&self) -> &Appliance {
        self.app.as_ref().expect("running")
    }

    /// Stops (draining) and starts again on the same data.
    pub async fn restart(&mut self) {
        let app = self.app.take().expect("running");
        let report = app.shutdown(Duration::from_secs(5)).await;
        assert!(report.drained);
        self.boot().await;
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    pub fn client_tls(&self, role: Role, name: &str) -> Arc<ClientConfig> {
        let me = self.pki.client(role, name);
        tls::client_config(&self.pki.ca_cert(), &me.cert, &me.key).expect("client tls")
    }

    pub async fn reader(&self, name: &str) -> ReaderClient {
        self.try_reader(name).await.expect("reader connects")
    }

    pub async fn try_reader(&self, name: &str) -> Result<ReaderClient, ClientError> {
        ReaderClient::connect(
            self.app().reader_addr(),
            self.client_tls(Role::Reader, name),
        )
        .await
    }

    pub fn admin_as(&self, role: Role, name: &str) -> AdminClient {
        AdminClient::new(self.app().admin_addr(), self.client_tls(role, name))
    }

    pub fn admin(&self) -> AdminClient {
        self.admin_as(Role::SecurityOffice, "admin")
    }

    pub async fn register(&self, name: &str, doors: &[u32]) {
        let (s, v) = self
            .admin()
            .call(Op::ReaderRegister, &[&name])
            .json(&json!({ "doors": doors }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
    }

    /// Creates a cardholder (generated fixture data) holding the
    /// `everywhere` level; returns the holder id.
    pub async fn holder(&self, n: u64) -> u64 {
        let (s, v) = self
            .admin()
            .call(Op::HolderCreate, &[])
            .json(&fixture_person(n))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_u64().unwrap();
        let (s, v) = self
            .admin()
            .call(Op::HolderLevels, &[&id])
            .json(&json!({ "levels": ["everywhere"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
        id
    }

    /// Issues a card to a new cardholder; returns the card id and number.
    pub async fn issue(&self, n: u64) -> (u64, AccessNumber) {
        let holder = self.holder(n).await;
        self.issue_to(holder).await
    }

    /// Issues a first card to an existing holder.
    pub async fn issue_to(&self, holder: u64) -> (u64, AccessNumber) {
        let (s, v) = self
            .admin()
            .call(Op::CardIssue, &[])
            .json(&json!({ "holder": holder }))
            .send()
            .await
            .unwrap();
        assert_eq!(s, 201, "{v}");
        let id = v["card"]["id"].as_u64().unwrap();
        let n: AccessNumber = v["access_number"].as_str().unwrap().parse().unwrap();
        (id, n)
    }

    pub async fn revoke(&self, id: u64) {
        let (s, v) = self
            .admin()
            .call(Op::CardRevoke, &[&id])
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
    }
}

/// A number no card has (random, so it is unique to the test).
pub fn random_number() -> AccessNumber {
    portcullis::crypto::numbers::Generator::new().next_number()
}

/// Plain HTTP GET against the metrics listener.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(p);
            }
        }
    }
    hits
}

/// Generated test fixture: a cardholder record with policy fields only.
pub fn fixture_person(n: u64) -> serde_json::Value {
    json!({
        "id_number": format!("9{n:08}"),
        "last_name": format!("Fixture-{}", ["Alder", "Birch", "Cedar", "Hazel"][(n % 4) as usize]),
        "first_name": "Test",
        "status": "registered",
        "department": "Physics",
        "affiliation": "student"
    })
}

/// A small valid JPEG (by the appliance's content check) whose payload
/// carries `tag`, so tests can tell uploads apart.
pub fn jpeg(tag: u64) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(&[0x11; 64]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

/// The test peers' Python (a virtual environment `make peers` creates).
pub fn peer_python() -> PathBuf {
    let p = std::env::var_os("PORTCULLIS_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap()).join(".cache/portcullis/venv/bin/python")
        });
    assert!(
        p.exists(),
        "{} is missing: `make peers` creates the test peers' virtual environment",
        p.display()
    );
    p
}

/// A real SMTP server on loopback (`tests/peers/smtp_sink.py`, aiosmtpd)
/// keeping each message as a file.
pub struct SmtpSink {
    child: std::process::Child,
    /// Its address.
    pub addr: SocketAddr,
    dir: TempDir,
}

impl SmtpSink {
    /// Starts it and waits until it listens.
    pub fn start() -> Self {
        use std::io::BufRead;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_sink.py");
        let mut child = std::process::Command::new(peer_python())
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        SmtpSink {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            dir,
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }

    /// Waits until `n` messages have arrived (at most 20 s).
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                std::time::Instant::now() < end,
                "{} message(s) of {n} arrived",
                m.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next Monday at `hour`:00 in the access time zone (America/New_York),
/// in microseconds: the Customer Service Center is open.
pub fn next_monday_at(now_us: u64, hour: i8) -> u64 {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let now = jiff::Timestamp::from_microsecond(now_us as i64)
        .unwrap()
        .to_zoned(tz.clone());
    let mut d = now.date().tomorrow().unwrap();
    while d.weekday() != jiff::civil::Weekday::Monday {
        d = d.tomorrow().unwrap();
    }
    d.at(hour, 0, 0, 0)
        .to_zoned(tz)
        .unwrap()
        .timestamp()
        .as_microsecond() as u64
}
