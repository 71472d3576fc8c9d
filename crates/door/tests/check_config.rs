//! `portcullis-door --check-config` and `new-key`, as an installer runs
//! them: a good file passes, and each kind of mistake is named and refused
//! with exit status 2. (The controller at work, with an appliance and OSDP
//! readers, is tested from the workspace root: tests/it/door_controller.rs.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn door() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portcullis-door"))
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A CA and a client certificate it signed.
fn certs(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(vec![]).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["controller".into()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    write(dir, "ca.crt", &ca.pem());
    write(dir, "c.crt", &leaf.pem());
    write(dir, "c.key", &key.serialize_pem());
}

fn base(door_extra: &str) -> String {
    format!(
        r#"appliances = ["127.0.0.1:7443"]
[tls]
ca_cert = "ca.crt"
cert = "c.crt"
key = "c.key"
[[doors]]
door = 1
transport = {{ tcp = "127.0.0.1:4201" }}
scbk_file = "k.scbk"
{door_extra}
"#
    )
}

fn check(dir: &Path, text: &str) -> (i32, String) {
    let cfg = write(dir, "door.toml", text);
    let out = door()
        .arg("--check-config")
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), all)
}

#[test]
fn new_keys_are_private_and_the_config_checker_names_each_mistake() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("k.scbk");
    let out = door().arg("new-key").arg(&key).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 32);
    // Never overwritten.
    let again = door().arg("new-key").arg(&key).output().unwrap();
    assert_eq!(again.status.code(), Some(2));

    // Placeholder certificate files: refused by the TLS loader, by name.
    for f in ["ca.crt", "c.crt", "c.key"] {
        write(d.path(), f, "placeholder");
    }
    let (code, out) = check(d.path(), &base(""));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("tls"), "{out}");
    // Real ones: the file is valid.
    certs(d.path());
    let (code, out) = check(d.path(), &base(""));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("secure channel required"), "{out}");

    for (extra, says) in [
        ("strike_ms = 5", "strike_ms"),
        ("osdp_address = 200", "osdp_address"),
        ("contact_input = 1\nrex_input = 1", "same input"),
        ("colour = \"red\"", "unknown field"),
        ("held_open_s = 0", "held_open_s"),
    ] {
        let (code, out) = check(d.path(), &base(extra));
        assert_eq!(code, 2, "{extra}: {out}");
        assert!(out.contains(says), "{extra}: {out}");
    }
    let twice = base("")
        + "[[doors]]\ndoor = 1\ntransport = { tcp = \"127.0.0.1:4202\" }\nscbk_file = \"k.scbk\"\n";
    let (code, out) = check(d.path(), &twice);
    assert_eq!(code, 2);
    assert!(out.contains("listed twice"), "{out}");
    let serial = base("").replace(
        "{ tcp = \"127.0.0.1:4201\" }",
        "{ serial = { path = \"/dev/ttyUSB0\", baud = 1234 } }",
    );
    let (code, out) = check(d.path(), &serial);
    assert_eq!(code, 2);
    assert!(out.contains("baud 1234"), "{out}");

    // A key others can read is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out) = check(d.path(), &base(""));
    assert_eq!(code, 2);
    assert!(out.contains("chmod 600"), "{out}");
}
