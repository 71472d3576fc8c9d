//! The appliance as its own process, started the way an operator starts
//! it (`portcullis run --config ...`), so fault tests can `kill -9` it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use portcullis::client::AdminClient;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;
use portcullis::Config;
use tempfile::TempDir;

/// A data directory, keys, PKI and configuration for appliance processes.
pub struct ProcHarness {
    /// Owns the temporary directory (removed on drop); `None` for a
    /// cluster member, whose directory its cluster owns.
    _dir: Option<TempDir>,
    pub pki: PkiDir,
    pub config: Config,
    config_path: PathBuf,
    log: PathBuf,
}

/// A running appliance process.
pub struct Proc {
    child: Child,
    pub reader: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
}

impl ProcHarness {
    /// A fresh harness; `tweak` may adjust the configuration.
    pub fn new(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiDir::new(dir.path().join("certs"));
        pki.init(false).unwrap();
        for (role, name) in [
            (Role::SecurityOffice, "admin"),
            (Role::CardOffice, "clerk"),
            (Role::Auditor, "audit"),
            (Role::Reader, "proc-reader"),
        ] {
            pki.issue(role, name).unwrap();
        }
        let mut h = Self::in_dir(dir.path(), &pki, &dir.path().join("keys"), tweak);
        h._dir = Some(dir);
        h
    }

    /// An appliance whose files are under `root` (data, configuration,
    /// log), with the PKI `pki` and the key directory `keys`: cluster
    /// members share the last two.
    pub fn in_dir(root: &Path, pki: &PkiDir, keys: &Path, tweak: impl FnOnce(&mut Config)) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let mut config = Config {
            data_dir: root.join("data"),
            keys_dir: keys.to_owned(),
            ..Config::default()
        };
        config.tls.ca_cert = pki.ca_cert();
        config.tls.server_cert = pki.server().cert;
        config.tls.server_key = pki.server().key;
        config.backup.dir = root.join("backups");
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        config.reader.listen = any;
        config.admin.listen = any;
        config.metrics.listen = any;
        tweak(&mut config);
        let config_path = root.join("portcullis.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
        let log = root.join("appliance.log");
        Self {
            _dir: None,
            pki: pki.clone(),
            config,
            config_path,
            log,
        }
    }

    /// Starts `portcullis run` on the harness's data and waits until it
    /// has bound its listeners; `None` (with its log) if it exited instead.
    pub fn try_start(&self) -> Result<Proc, String> {
        self.try_start_limited(None)
    }

    /// As [`ProcHarness::try_start`], with the process's open-file limit
    /// (soft and hard) set to `nofile` when given.
    pub fn try_start_limited(&self, nofile: Option<u64>) -> Result<Proc, String> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(n) = nofile {
            // SAFETY: setrlimit(2) only, in the child between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if line.contains("appliance started") {
                    let _ = tx.send(line);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let addr = |key: &str| -> SocketAddr {
                    let i = line.find(&format!("{key}=")).unwrap() + key.len() + 1;
                    line[i..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                Ok(Proc {
                    reader: addr("reader_addr"),
                    admin: addr("admin_addr"),
                    metrics: addr("metrics_addr"),
                    child,
                })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::fs::read_to_string(&self.log).unwrap_or_default())
            }
        }
    }

    /// Starts and expects it to come up.
    pub fn start(&self) -> Proc {
        self.try_start()
            .unwrap_or_else(|log| panic!("the appliance did not start:\n{log}"))
    }

    /// Registers the fixtures' department.
    pub async fn departments(&self, p: &Proc) {
        let (s, v) = self
            .admin(p, Role::SecurityOffice, "admin")
            .call(portcullis::api::Op::DlcPut, &[&"Physics"])
            .json(
                &serde_json::json!({ "code": "Physics", "name": "Physics", "kind": "department" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(s, 200, "{v}");
    }

    /// The admin client of `role`/`name` for `p`.
    pub fn admin(&self, p: &Proc, role: Role, name: &str) -> AdminClient {
        let me = self.pki.client(role, name);
        let cfg = tls::client_config(&self.pki.ca_cert(), &me.cert, &me.key).unwrap();
        AdminClient::new(p.admin, cfg)
    }

    /// The reader TLS configuration.
    pub fn reader_tls(&self) -> std::sync::Arc<rustls::ClientConfig> {
        let me = self.pki.client(Role::Reader, "proc-reader");
        tls::client_config(&self.pki.ca_cert(), &me.cert, &me.key).unwrap()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The configuration file `portcullis run --config` reads.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The directory that holds this harness's files.
    pub fn root(&self) -> &Path {
        self.config_path
            .parent()
            .expect("the configuration is in a directory")
    }
}

impl Proc {
    /// `kill -9`, and waits for the process to be gone.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and waits for the process to exit; its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
