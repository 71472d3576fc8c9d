//! A real browser for the console tests: Debian's headless Chromium driven
//! through ChromeDriver (W3C WebDriver over HTTP on loopback), presenting a
//! client certificate of the appliance's CA from an NSS database of its own
//! — one browser per identity, as each member of staff has theirs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One browser, signed in by one certificate.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    base: String,
    _dir: tempfile::TempDir,
    /// Where screenshots go when `PORTCULLIS_SCREENSHOTS` names a directory.
    shots: Option<PathBuf>,
}

impl Browser {
    /// A browser for `role`/`name` of `pki`, pointed at the admin listener
    /// `admin`.
    pub async fn open(pki: &PkiDir, role: Role, name: &str, admin: SocketAddr) -> Self {
        for tool in [
            "/usr/bin/chromium",
            "/usr/bin/chromedriver",
            "/usr/bin/certutil",
            "/usr/bin/openssl",
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: `make test` installs chromium, chromium-driver, libnss3-tools and openssl"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let nss = home.join(".pki/nssdb");
        std::fs::create_dir_all(&nss).unwrap();
        let db = format!("sql:{}", nss.display());
        run(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
        run(Command::new("certutil")
            .args(["-A", "-d", &db, "-n", "Portcullis CA", "-t", "CT,,", "-i"])
            .arg(pki.ca_cert()));
        let me = pki.client(role, name);
        let p12 = dir.path().join("me.p12");
        run(Command::new("openssl")
            .args([
                "pkcs12", "-export", "-passout", "pass:", "-name", name, "-in",
            ])
            .arg(&me.cert)
            .arg("-inkey")
            .arg(&me.key)
            .arg("-out")
            .arg(&p12));
        run(Command::new("pk12util")
            .args(["-d", &db, "-W", "", "-i"])
            .arg(&p12));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            base: format!("https://127.0.0.1:{}", admin.port()),
            shots: std::env::var_os("PORTCULLIS_SCREENSHOTS").map(PathBuf::from),
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(20);
        while b.http("GET", "/status", None).await.is_err() {
            assert!(Instant::now() < end, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = b._dir.path().join("profile");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": false,
            "timeouts": { "pageLoad": 30000, "script": 10000, "implicit": 0 },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                // The one certificate in this browser's database is presented
                // to the appliance without a prompt.
                "prefs": { "profile": { "content_settings": { "exceptions": { "auto_select_certificate": {
                    format!("{},*", b.base): { "setting": { "filters": [ {} ] } }
                } } } } }
            }
        } } });
        let v = b
            .http("POST", "/session", Some(&caps))
            .await
            .expect("new session");
        b.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        b
    }

    async fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .map_err(|e| e.to_string())?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        // ChromeDriver says `Connection: close` but keeps the socket open:
        // read the head, then exactly the body it announces.
        let mut out = Vec::new();
        let read = async {
            let mut buf = [0u8; 16384];
            loop {
                let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok::<(), String>(());
                }
                out.extend_from_slice(&buf[..n]);
                let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                let len = head.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                });
                match len {
                    Some(len) if out.len() >= end + 4 + len => return Ok(()),
                    Some(_) => {}
                    // Chunked: complete at the last chunk.
                    None if out.ends_with(b"0\r\n\r\n") => return Ok(()),
                    None => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .map_err(|_| "chromedriver timed out".to_owned())??;
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
        // A chunked answer: join the chunks.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            let mut joined = String::new();
            let mut rest = body;
            while let Some((size, tail)) = rest.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 {
                    break;
                }
                joined.push_str(&tail[..n.min(tail.len())]);
                rest = tail.get(n + 2..).unwrap_or("");
            }
            joined
        } else {
            body.to_owned()
        };
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if head.starts_with("HTTP/1.1 200") {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let p = format!("/session/{}{path}", self.session);
        let b = (method == "POST").then_some(&body);
        self.http(method, &p, b)
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    /// Opens a console path (`/console/...`).
    pub async fn goto(&self, path: &str) {
        self.cmd(
            "POST",
            "/url",
            json!({ "url": format!("{}{path}", self.base) }),
        )
        .await;
    }

    async fn find(&self, css: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let p = format!("/session/{}/element", self.session);
            match self
                .http(
                    "POST",
                    &p,
                    Some(&json!({ "using": "css selector", "value": css })),
                )
                .await
            {
                Ok(v) => return v["value"][ELEMENT].as_str().unwrap().to_owned(),
                Err(e) if Instant::now() > end => {
                    panic!(
                        "no element `{css}` on {}: {e}\n{}",
                        self.url().await,
                        self.text("body").await
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Types `text` into the field `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Chooses `value` in the select `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    /// The visible text of `css`.
    pub async fn text(&self, css: &str) -> String {
        let p = format!("/session/{}/element", self.session);
        let Ok(v) = self
            .http(
                "POST",
                &p,
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .await
        else {
            return String::new();
        };
        let e = v["value"][ELEMENT].as_str().unwrap_or_default().to_owned();
        // The page may have been replaced meanwhile (a stale element): the
        // caller polls again.
        let p = format!("/session/{}/element/{e}/text", self.session);
        match self.http("GET", &p, None).await {
            Ok(v) => v["value"].as_str().unwrap_or_default().to_owned(),
            Err(_) => String::new(),
        }
    }

    /// The value of the field `css`.
    pub async fn value(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{e}/property/value"), json!({}))
            .await["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", json!({})).await["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until `css`'s text contains `want`.
    pub async fn wait_text(&self, css: &str, want: &str) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.text(css).await;
            if t.contains(want) {
                return t;
            }
            assert!(
                Instant::now() < end,
                "`{css}` never said `{want}`; it says `{t}`; the page:\n{}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot as `name`.png when screenshots are asked for.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        let v = self.cmd("GET", "/screenshot", json!({})).await;
        let png = base64_decode(v["value"].as_str().unwrap_or_default());
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort, synchronously: end the session so Chromium exits.
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    s,
                    "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
