//! The controller's configuration file (TOML). Every field has a safe
//! default except the doors themselves; unknown fields are errors, so a
//! misspelt setting is caught by `--check-config` rather than ignored.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This controller's name in logs. The appliance knows it by its
    /// certificate, not by this.
    #[serde(default = "default_name")]
    pub name: String,
    /// Appliance reader ports, tried in turn.
    pub appliances: Vec<SocketAddr>,
    /// Mutual TLS towards the appliance.
    pub tls: Tls,
    /// The door event buffer.
    #[serde(default)]
    pub events: Events,
    /// The controller's own operations port.
    #[serde(default)]
    pub metrics: Metrics,
    /// Timings of the uplink to the appliance.
    #[serde(default)]
    pub uplink: Uplink,
    /// OSDP timings shared by every reader.
    #[serde(default)]
    pub osdp: Osdp,
    /// The doors, one reader each.
    pub doors: Vec<Door>,
}

fn default_name() -> String {
    "door-controller".into()
}

/// TLS files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The appliance CA.
    pub ca_cert: PathBuf,
    /// This controller's certificate (role `reader`).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Where door events wait for the appliance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// The buffer file; created if missing.
    pub path: PathBuf,
    /// Events kept while the appliance cannot be reached; beyond it the
    /// oldest are dropped (counted).
    pub max_events: usize,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            path: "door-data/events.log".into(),
            max_events: 10_000,
        }
    }
}

/// The operations port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `/metrics`, `/healthz`, `/readyz`; port 0 picks one.
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9478".parse().expect("literal"),
        }
    }
}

/// Uplink timings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Uplink {
    /// A card read not answered within this is denied (fail secure).
    pub verify_timeout_ms: u64,
    /// TCP connect and TLS handshake, per address.
    pub connect_timeout_ms: u64,
    /// First wait after every address failed; doubled up to the maximum,
    /// with jitter.
    pub backoff_min_ms: u64,
    /// Longest wait between rounds of attempts.
    pub backoff_max_ms: u64,
    /// A PING when nothing was sent for this long; a connection silent for
    /// three times this is dropped.
    pub ping_ms: u64,
}

impl Default for Uplink {
    fn default() -> Self {
        Self {
            verify_timeout_ms: 1_500,
            connect_timeout_ms: 3_000,
            backoff_min_ms: 250,
            backoff_max_ms: 10_000,
            ping_ms: 5_000,
        }
    }
}

/// OSDP timings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Osdp {
    /// How often each reader's Control Panel is refreshed (OSDP asks for at
    /// most 50 ms; every command waits for one poll, so shorter is faster).
    pub refresh_ms: u64,
    /// A reader that has not come online with a secure channel this long
    /// after connecting is dropped and retried (counted).
    pub session_deadline_ms: u64,
    /// Unusable this long, a reader is reported `reader_offline`.
    pub offline_after_ms: u64,
    /// Longest wait between reconnections to a reader.
    pub backoff_max_ms: u64,
}

impl Default for Osdp {
    fn default() -> Self {
        Self {
            refresh_ms: 10,
            session_deadline_ms: 5_000,
            offline_after_ms: 3_000,
            backoff_max_ms: 30_000,
        }
    }
}

/// How a reader is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Transport {
    /// OSDP over TCP, as RS-485 serial servers expose it: `host:port`.
    Tcp(SocketAddr),
    /// A serial device (RS-485 adapter).
    Serial {
        /// Device path, e.g. `/dev/ttyUSB0`.
        path: PathBuf,
        /// Line speed: 9600, 19200, 38400, 57600, 115200 or 230400.
        baud: u32,
    },
}

/// Serial speeds OSDP uses.
pub const BAUDS: [u32; 6] = [9_600, 19_200, 38_400, 57_600, 115_200, 230_400];

/// A door and its reader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Door {
    /// The door's number on the appliance.
    pub door: u32,
    /// The reader's transport.
    pub transport: Transport,
    /// The reader's OSDP address (0–126).
    #[serde(default)]
    pub osdp_address: u8,
    /// File holding the reader's Secure Channel Base Key: 32 hex digits,
    /// mode 0600.
    pub scbk_file: PathBuf,
    /// Run this reader in plain text (logged and counted): no Secure
    /// Channel is tried, so its key is never sent over the default one.
    /// Off by default: a reader that cannot do Secure Channel is refused.
    #[serde(default)]
    pub allow_insecure: bool,
    /// The reader output wired to the door strike.
    #[serde(default)]
    pub strike_output: u8,
    /// How long the strike is released on a grant.
    #[serde(default = "default_strike_ms")]
    pub strike_ms: u64,
    /// The reader input wired to the door contact (1 = open); none means
    /// the door is not supervised.
    #[serde(default)]
    pub contact_input: Option<u8>,
    /// The reader input wired to the request-to-exit button (1 = pressed).
    #[serde(default)]
    pub rex_input: Option<u8>,
    /// How long the door may stay open after an authorised opening.
    #[serde(default = "default_held_open_s")]
    pub held_open_s: u64,
    /// Ask the reader for its input and tamper state on connecting. Real
    /// readers answer; the libosdp 3.2.9 Python peripheral cannot answer
    /// osdp_ISTAT (its binding drops the report and NAKs), so test peers
    /// set this to false.
    #[serde(default = "yes")]
    pub query_status: bool,
}

fn default_strike_ms() -> u64 {
    3_000
}
fn default_held_open_s() -> u64 {
    30
}
fn yes() -> bool {
    true
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    /// Not TOML, or fields wrong.
    #[error("{0}: {1}")]
    Parse(String, toml::de::Error),
    /// Parsed, but not sensible.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

impl Config {
    /// Reads, parses and validates `path`, including the key files.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(shown.clone(), e))?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse(shown, e))?;
        // Relative paths are relative to the configuration file.
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        rebase(&mut cfg.tls.ca_cert);
        rebase(&mut cfg.tls.cert);
        rebase(&mut cfg.tls.key);
        rebase(&mut cfg.events.path);
        for d in &mut cfg.doors {
            rebase(&mut d.scbk_file);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what parsing cannot: ranges, duplicates, key files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.appliances.is_empty() {
            return Err(invalid("appliances: at least one address is needed"));
        }
        if self.doors.is_empty() {
            return Err(invalid("doors: at least one door is needed"));
        }
        if self.doors.len() > 256 {
            return Err(invalid("doors: at most 256 per controller"));
        }
        if self.events.max_events == 0 || self.events.max_events > 1_000_000 {
            return Err(invalid("events.max_events: between 1 and 1000000"));
        }
        let o = &self.osdp;
        if !(1..=50).contains(&o.refresh_ms) {
            return Err(invalid(
                "osdp.refresh_ms: between 1 and 50 (OSDP polls at least every 50 ms)",
            ));
        }
        if o.session_deadline_ms < 500 || o.offline_after_ms < 100 || o.backoff_max_ms < 100 {
            return Err(invalid(
                "osdp: session_deadline_ms >= 500, offline_after_ms >= 100, backoff_max_ms >= 100",
            ));
        }
        let u = &self.uplink;
        if u.verify_timeout_ms < 50 || u.connect_timeout_ms < 50 || u.ping_ms < 100 {
            return Err(invalid(
                "uplink: verify_timeout_ms >= 50, connect_timeout_ms >= 50, ping_ms >= 100",
            ));
        }
        if u.backoff_min_ms == 0 || u.backoff_max_ms < u.backoff_min_ms {
            return Err(invalid("uplink: 0 < backoff_min_ms <= backoff_max_ms"));
        }
        let mut doors = HashSet::new();
        let mut readers = HashSet::new();
        for d in &self.doors {
            let at = format!("door {}", d.door);
            if !doors.insert(d.door) {
                return Err(invalid(format!("{at}: listed twice")));
            }
            if d.osdp_address > 126 {
                return Err(invalid(format!("{at}: osdp_address must be 0..=126")));
            }
            let endpoint = match &d.transport {
                Transport::Tcp(a) => a.to_string(),
                Transport::Serial { path, baud } => {
                    if !BAUDS.contains(baud) {
                        return Err(invalid(format!(
                            "{at}: baud {baud} is not one of {BAUDS:?}"
                        )));
                    }
                    path.display().to_string()
                }
            };
            // One reader per transport: a multi-drop bus would need one
            // Control Panel for all its readers.
            if !readers.insert(endpoint.clone()) {
                return Err(invalid(format!("{at}: {endpoint} is used by another door")));
            }
            if d.strike_ms < 100 || d.strike_ms > 60_000 {
                return Err(invalid(format!("{at}: strike_ms between 100 and 60000")));
            }
            if d.held_open_s == 0 || d.held_open_s > 3_600 {
                return Err(invalid(format!("{at}: held_open_s between 1 and 3600")));
            }
            if d.contact_input.is_some() && d.contact_input == d.rex_input {
                return Err(invalid(format!(
                    "{at}: contact_input and rex_input are the same input"
                )));
            }
            read_scbk(&d.scbk_file).map_err(|e| invalid(format!("{at}: {e}")))?;
        }
        for (what, p) in [
            ("tls.ca_cert", &self.tls.ca_cert),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ] {
            if !p.is_file() {
                return Err(invalid(format!("{what}: {} is not a file", p.display())));
            }
        }
        Ok(())
    }
}

/// Reads a Secure Channel Base Key file: 32 hex digits (a trailing newline
/// is allowed), readable by its owner only.
pub fn read_scbk(path: &Path) -> Result<[u8; 16], String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("scbk_file {shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "scbk_file {shown}: mode {mode:o} lets others read the key; chmod 600 it"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("scbk_file {shown}: {e}"))?;
    let hex = text.trim_end_matches(['\n', '\r']);
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "scbk_file {shown}: expected 32 hex digits (a 128-bit key)"
        ));
    }
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    if key == [0u8; 16] {
        return Err(format!("scbk_file {shown}: an all-zero key is not a key"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn key_files_must_be_private_hex_and_not_zero() {
        let d = tempfile::tempdir().unwrap();
        let good = key(d.path(), "a", "303132333435363738393a3b3c3d3e3f\n", 0o600);
        assert_eq!(read_scbk(&good).unwrap()[0], 0x30);
        let open = key(d.path(), "b", "303132333435363738393a3b3c3d3e3f", 0o644);
        assert!(read_scbk(&open).unwrap_err().contains("chmod 600"));
        let short = key(d.path(), "c", "3031", 0o600);
        assert!(read_scbk(&short).unwrap_err().contains("32 hex"));
        let zero = key(d.path(), "d", &"0".repeat(32), 0o600);
        assert!(read_scbk(&zero).unwrap_err().contains("all-zero"));
        assert!(read_scbk(&d.path().join("missing")).is_err());
    }
}
