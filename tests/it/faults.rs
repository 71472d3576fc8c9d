//! Faults, as an operator meets them: `kill -9` in the middle of admin
//! changes and verifications. Every acknowledged change and every answered
//! decision must be on disk afterwards, and no card may lack its audit
//! entry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis::api::types::{Created, IssueCard, IssuedCard};
use portcullis::api::Op;
use portcullis::client::ReaderClient;
use portcullis::pki::identity::Role;
use portcullis::protocol::Frame;
use portcullis::records::cards::Card;
use portcullis::store::audit::AuditEntry;
use portcullis::store::journal::Journaled;
use portcullis::store::{cf, Store};
use serde_json::json;

use crate::common::fixture_person;
use crate::process::ProcHarness;

/// What the data directory holds, read with the appliance stopped.
struct OnDisk {
    cards: BTreeMap<u64, Card>,
    audited_cards: BTreeSet<u64>,
    decisions_of_reader: BTreeMap<u32, u64>,
}

fn read_disk(h: &ProcHarness) -> OnDisk {
    let store = Store::open_read_only(h.data_dir()).unwrap();
    let db = store.db();
    let mut cards = BTreeMap::new();
    for item in db.iterator_cf(store.cf(cf::CARDS), rocksdb::IteratorMode::Start) {
        let (k, v) = item.unwrap();
        let c = Card::decode(&k, &v).unwrap();
        cards.insert(c.id, c);
    }
    let mut audited_cards = BTreeSet::new();
    for item in db.iterator_cf(store.cf(cf::AUDIT), rocksdb::IteratorMode::Start) {
        let (_, v) = item.unwrap();
        let e: AuditEntry = serde_json::from_slice(&v).unwrap();
        if e.action == "card.issue" || e.action == "card.replace" {
            if let Some(id) = e.target.strip_prefix("card:").and_then(|s| s.parse().ok()) {
                audited_cards.insert(id);
            }
            // A replacement's superseded cards are named in its detail.
            for s in e.detail["superseded"].as_array().into_iter().flatten() {
                audited_cards.insert(s.as_u64().unwrap());
            }
        }
    }
    let mut decisions_of_reader = BTreeMap::new();
    for item in db.iterator_cf(store.cf(cf::JOURNAL), rocksdb::IteratorMode::Start) {
        let (_, v) = item.unwrap();
        let r = Journaled::decode(&v).unwrap();
        *decisions_of_reader.entry(r.reader()).or_insert(0) += 1;
    }
    OnDisk {
        cards,
        audited_cards,
        decisions_of_reader,
    }
}

/// Kill -9 while sixteen writers issue and replace cards and a reader
/// verifies, eight times over the same data (enough rounds that a kill lands
/// between the two writes of a change if a change were two writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_changes_and_verifications_loses_nothing_acknowledged() {
    let h = ProcHarness::new(|_| {});
    // Acknowledged: card id → the number's holder, and answered decisions.
    let acknowledged: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let mut answered_total = 0u64;
    let mut reader_id = 0;
    for round in 0..8u64 {
        let p = h.start();
        let admin = h.admin(&p, Role::SecurityOffice, "admin");
        if round == 0 {
            h.departments(&p).await;
            let (s, v) = admin
                .call(Op::ReaderRegister, &[&"proc-reader"])
                .json(&json!({ "doors": [1] }))
                .send()
                .await
                .unwrap();
            assert_eq!(s, 200, "{v}");
            reader_id = v["id"].as_u64().unwrap() as u32;
            let (s, v) = admin
                .call(Op::AccessSet, &[])
                .json(&json!({ "door_groups": { "d": [1] }, "schedules": {}, "levels": { "l": { "door_group": "d" } }, "holidays": [] }))
                .send()
                .await
                .unwrap();
            assert_eq!(s, 200, "{v}");
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Writers: a holder, a first card, then replacements, in a loop.
        let mut writers = Vec::new();
        for w in 0..16u64 {
            let (admin, stop, acked) = (admin.clone(), stop.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let person = fixture_person(round * 100_000 + w * 10_000 + n);
                    let Ok(c) = admin
                        .call(Op::HolderCreate, &[])
                        .json(&person)
                        .expect::<Created>()
                        .await
                    else {
                        break;
                    };
                    let Ok(i) = admin
                        .call(Op::CardIssue, &[])
                        .json(&IssueCard {
                            holder: c.id,
                            ..IssueCard::default()
                        })
                        .expect::<IssuedCard>()
                        .await
                    else {
                        break;
                    };
                    acked.lock().unwrap().insert(i.card.id);
                    let Ok(r) = admin
                        .call(Op::CardReplace, &[&c.id])
                        .expect::<IssuedCard>()
                        .await
                    else {
                        break;
                    };
                    acked.lock().unwrap().insert(r.card.id);
                }
            }));
        }
        // A reader verifying as fast as it can, counting answers.
        let (tls, addr, stop_r) = (h.reader_tls(), p.reader, stop.clone());
        let verifier = tokio::spawn(async move {
            let mut answered = 0u64;
            let Ok(mut r) = ReaderClient::connect(addr, tls).await else {
                return 0;
            };
            let mut id = 0u32;
            while !stop_r.load(Ordering::Relaxed) {
                id += 1;
                match r
                    .verify(id, 1, &portcullis::crypto::numbers::AccessNumber([7u8; 16]))
                    .await
                {
                    Ok(Frame::VerifyResult { .. }) => answered += 1,
                    _ => break,
                }
            }
            answered
        });
        let after = 250 + (round * 337) % 700;
        tokio::time::sleep(Duration::from_millis(after)).await;
        p.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let _ = w.await;
        }
        answered_total += verifier.await.unwrap();

        let disk = read_disk(&h);
        let acked = acknowledged.lock().unwrap().clone();
        for id in &acked {
            assert!(
                disk.cards.contains_key(id),
                "round {round}: acknowledged card {id} lost"
            );
        }
        for id in disk.cards.keys() {
            assert!(
                disk.audited_cards.contains(id),
                "round {round}: card {id} is on disk without its audit entry"
            );
        }
        let journaled = disk
            .decisions_of_reader
            .get(&reader_id)
            .copied()
            .unwrap_or(0);
        assert!(
            journaled >= answered_total,
            "round {round}: {answered_total} decisions answered, {journaled} journaled"
        );
        assert!(!acked.is_empty() || round > 0, "no change was acknowledged");
    }
    assert!(answered_total > 0);
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root).
    fn mount(path: &std::path::Path, mib: u64) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::fs::create_dir_all(path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self {
            path: path.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// Reserves `bytes` of the filesystem holding `path` in a file there.
fn fill(path: &std::path::Path, bytes: u64) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::create(path).unwrap();
    // SAFETY: fallocate on a file descriptor we own.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, bytes as libc::off_t) };
    assert_eq!(r, 0, "fallocate");
}

fn free_bytes(path: &std::path::Path) -> u64 {
    portcullis::store::space::available(path).unwrap()
}

async fn readyz(addr: std::net::SocketAddr) -> (u16, String) {
    crate::common::http_get(addr, "/readyz").await
}

/// Issue 9, defect 2: a filling disk never aborts the appliance. Decisions
/// fail secure below the reserve, a suspension is still possible, admin
/// changes are refused with a clear error when the disk is nearly full, and
/// everything resumes without a restart once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_secure_and_recovers_without_a_restart() {
    let outer = tempfile::tempdir().unwrap();
    let mnt = outer.path().join("mnt");
    let Some(_fs) = Tmpfs::mount(&mnt, 96) else {
        // A skipped fault test proves nothing: where it must run, say so.
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_ROOT_TESTS").is_none(),
            "the full-disk test needs root (to mount a small tmpfs)"
        );
        eprintln!("SKIPPED: the full-disk test needs root (to mount a small tmpfs)");
        return;
    };
    let data = mnt.join("data");
    let h = ProcHarness::new(|c| {
        c.data_dir = data.clone();
        c.journal.write_buffer_mb = 4;
        c.storage.reserve_mb = 16;
        c.storage.resume_mb = 24;
        c.storage.admin_reserve_mb = 6;
        c.storage.rocksdb_log_dir = std::path::PathBuf::new();
    });
    let mut p = h.start();
    let admin = h.admin(&p, Role::SecurityOffice, "admin");
    let (card_id, number) = one_card(&h, &p).await;
    // A second person's card, to revoke on the low disk.
    let (card2_id, number2) = card_for(&admin, 2).await;

    // Leave just above the resume mark, then verify until the reserve is
    // reached.
    let filler = mnt.join("filler");
    let free = free_bytes(&mnt);
    fill(&filler, free.saturating_sub(26 << 20));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (tls, addr, stop) = (h.reader_tls(), p.reader, stop.clone());
        load.push(tokio::spawn(async move {
            let (mut answered, mut refused) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut r) = ReaderClient::connect(addr, tls.clone()).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut batch = 0u32;
                loop {
                    // Pipelined rounds of 64 fill the journal quickly.
                    for i in 0..64 {
                        let f = Frame::Verify(portcullis::protocol::VerifyRequest {
                            request_id: batch * 64 + i,
                            door: 1,
                            credential: portcullis::protocol::Credential::Random128([i as u8; 16]),
                        });
                        if r.send(&f).await.is_err() {
                            break;
                        }
                    }
                    batch += 1;
                    let mut ok = true;
                    for _ in 0..64 {
                        match r.recv().await {
                            Ok(Some(Frame::VerifyResult { .. })) => answered += 1,
                            _ => {
                                refused += 1;
                                ok = false;
                                break;
                            }
                        }
                    }
                    if !ok || stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
            (answered, refused)
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (s, body) = readyz(p.metrics).await;
        if s == 503 {
            assert!(body.contains("reserve"), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reserve was never reached"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Decisions are refused (fail secure): the card cannot be verified.
    let mut r = ReaderClient::connect(p.reader, h.reader_tls())
        .await
        .unwrap();
    assert!(
        r.verify(1, 1, &number).await.is_err(),
        "a decision was answered below the reserve"
    );
    // A suspension still goes through.
    let (s, v) = admin
        .call(Op::CardSuspend, &[&card_id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    // And a revocation.
    let (s, v) = admin
        .call(Op::CardRevoke, &[&card2_id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let (_, metrics) = crate::common::http_get(p.metrics, "/metrics").await;
    assert!(metrics.contains("portcullis_storage_low 1"), "{metrics}");

    // Nearly full: admin changes are refused, clearly, and nothing changes.
    let free = free_bytes(&mnt);
    fill(&mnt.join("filler2"), free.saturating_sub(2 << 20));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, v) = admin
        .call(Op::CardResume, &[&card_id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("nearly full"), "{v}");
    // RocksDB polls its error state every 5 s: give it the time it took to
    // abort before; the process must still be alive.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(p.running(), "the appliance died on a full disk");

    // Space back: everything resumes without a restart.
    std::fs::remove_file(mnt.join("filler2")).unwrap();
    std::fs::remove_file(&filler).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while readyz(p.metrics).await.0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "not ready again after space was freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        let (answered, refused) = l.await.unwrap();
        assert!(
            answered > 0 && refused > 0,
            "answered {answered}, refused {refused}"
        );
    }
    let mut r = ReaderClient::connect(p.reader, h.reader_tls())
        .await
        .unwrap();
    match r.verify(2, 1, &number).await.unwrap() {
        Frame::VerifyResult { reason, .. } => {
            assert_eq!(reason, portcullis::protocol::Reason::Suspended)
        }
        other => panic!("{other:?}"),
    }
    match r.verify(3, 1, &number2).await.unwrap() {
        Frame::VerifyResult { reason, .. } => {
            assert_eq!(reason, portcullis::protocol::Reason::Revoked)
        }
        other => panic!("{other:?}"),
    }
    let (s, v) = admin
        .call(Op::CardResume, &[&card_id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert!(p.running());
    let status = p.terminate();
    assert!(status.success(), "{status:?}");
}

/// A damaged data directory is refused loudly, never silently replaced or
/// rolled back: a lost CURRENT file does not start an empty database, and a
/// truncated write-ahead log that lost a revocation does not let the card
/// work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_data_is_refused_and_never_resurrects_a_revoked_card() {
    let h = ProcHarness::new(|_| {});
    let p = h.start();
    h.departments(&p).await;
    let admin = h.admin(&p, Role::SecurityOffice, "admin");
    let c: Created = admin
        .call(Op::HolderCreate, &[])
        .json(&fixture_person(1))
        .expect()
        .await
        .unwrap();
    let card: IssuedCard = admin
        .call(Op::CardIssue, &[])
        .json(&IssueCard {
            holder: c.id,
            ..IssueCard::default()
        })
        .expect()
        .await
        .unwrap();
    let (s, _) = admin
        .call(Op::CardRevoke, &[&card.card.id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200);
    // The revocation is in the WAL (acknowledged after a synced write), not
    // yet in a table file.
    p.kill9();
    let wal = std::fs::read_dir(h.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a write-ahead log");
    let backup = std::fs::read(&wal).unwrap();
    let len = backup.len() as u64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(len - 64)
        .unwrap();
    let log = h.try_start().err().expect("a truncated WAL must not start");
    assert!(log.contains("acknowledged"), "{log}");

    // CURRENT gone: refused, and the table files are still there.
    std::fs::write(&wal, &backup).unwrap();
    let p = h.start();
    p.kill9();
    let current = h.data_dir().join("CURRENT");
    let saved = std::fs::read(&current).unwrap();
    std::fs::remove_file(&current).unwrap();
    let files_before = std::fs::read_dir(h.data_dir()).unwrap().count();
    let log = h
        .try_start()
        .err()
        .expect("a database without CURRENT must not start");
    assert!(log.contains("CURRENT is missing"), "{log}");
    assert_eq!(
        std::fs::read_dir(h.data_dir()).unwrap().count(),
        files_before
    );

    std::fs::write(&current, saved).unwrap();

    // A damaged MANIFEST: refused with RocksDB's own words, no abort, and
    // the files left as they were for the operator (or a backup) to mend.
    let manifest = std::fs::read_dir(h.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("MANIFEST-"))
        })
        .expect("a MANIFEST");
    let good = std::fs::read(&manifest).unwrap();
    let mut bad = good.clone();
    for b in bad.iter_mut().skip(8).take(64) {
        *b ^= 0x5a;
    }
    std::fs::write(&manifest, &bad).unwrap();
    let log = h
        .try_start()
        .err()
        .expect("a damaged MANIFEST must not start");
    assert!(
        log.to_ascii_lowercase().contains("corrupt"),
        "the refusal names the damage:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(
        std::fs::read(&manifest).unwrap(),
        bad,
        "the evidence was kept"
    );
    std::fs::write(&manifest, &good).unwrap();

    // Restored: the card is still revoked.
    let p = h.start();
    let (s, v) = h
        .admin(&p, Role::SecurityOffice, "admin")
        .call(Op::CardShow, &[&card.card.id])
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "revoked");
}

/// Files readable by others are refused (secrets) or tightened (data).
#[tokio::test]
async fn secrets_open_to_others_are_refused_and_data_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let h = ProcHarness::new(|_| {});
    let p = h.start();
    p.kill9();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    // The data directory and its files: made owner-only at start.
    set(h.data_dir(), 0o755);
    for e in std::fs::read_dir(h.data_dir()).unwrap() {
        set(&e.unwrap().path(), 0o644);
    }
    let p = h.start();
    assert_eq!(mode(h.data_dir()), 0o700);
    for e in std::fs::read_dir(h.data_dir()).unwrap() {
        let path = e.unwrap().path();
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} is open to others",
            path.display()
        );
    }
    p.kill9();
    // The key directory, or the server's private key, open to others: refused.
    set(&h.config.keys_dir, 0o755);
    let log = h
        .try_start()
        .err()
        .expect("keys/ open to others must be refused");
    assert!(log.contains("chmod 700"), "{log}");
    set(&h.config.keys_dir, 0o700);
    set(&h.config.tls.server_key, 0o644);
    let log = h
        .try_start()
        .err()
        .expect("a readable server key must be refused");
    assert!(log.contains("chmod 600"), "{log}");
    set(&h.config.tls.server_key, 0o600);
    h.start();
}

/// `portcullis restore` from an operator's shell (umask 022) leaves the
/// data and the keys owner-only, so the restored appliance starts (it
/// refuses a key directory others may read).
#[tokio::test]
async fn a_restore_from_the_shell_is_private_and_starts() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let h = ProcHarness::new(|_| {});
    let p = h.start();
    let (s, v) = h
        .admin(&p, Role::SecurityOffice, "admin")
        .call(Op::BackupCreate, &[])
        .json(&json!({ "with_keys": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let backup = v["path"].as_str().unwrap().to_owned();
    assert!(p.terminate().success());

    let root = h.root().join("restored");
    let target = ProcHarness::in_dir(&root, &h.pki, &root.join("keys"), |_| {});
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(["restore", "--from", &backup, "--config"])
        .arg(target.config_path());
    // SAFETY: umask(2) only, in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for dir in [target.data_dir(), &target.config.keys_dir] {
        for entry in std::iter::once(dir.to_owned())
            .chain(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
        {
            let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is open to others", entry.display());
        }
    }
    let restored = target.start();
    assert!(restored.terminate().success());
}

/// A reader, an access level and one working card on a process appliance:
/// the card's id and access number.
async fn one_card(
    h: &ProcHarness,
    p: &crate::process::Proc,
) -> (u64, portcullis::crypto::numbers::AccessNumber) {
    h.departments(p).await;
    let admin = h.admin(p, Role::SecurityOffice, "admin");
    let (s, v) = admin
        .call(Op::ReaderRegister, &[&"proc-reader"])
        .json(&json!({ "doors": [1] }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let (s, v) = admin
        .call(Op::AccessSet, &[])
        .json(&json!({ "door_groups": { "d": [1] }, "schedules": {}, "levels": { "l": { "door_group": "d" } }, "holidays": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    card_for(&admin, 1).await
}

/// Holder `n` (the fixture) with level `l` and a first card: the card's id
/// and access number.
async fn card_for(
    admin: &portcullis::AdminClient,
    n: u64,
) -> (u64, portcullis::crypto::numbers::AccessNumber) {
    let c: Created = admin
        .call(Op::HolderCreate, &[])
        .json(&fixture_person(n))
        .expect()
        .await
        .unwrap();
    let (s, v) = admin
        .call(Op::HolderLevels, &[&c.id])
        .json(&json!({ "levels": ["l"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let card: IssuedCard = admin
        .call(Op::CardIssue, &[])
        .json(&IssueCard {
            holder: c.id,
            ..IssueCard::default()
        })
        .expect()
        .await
        .unwrap();
    (card.card.id, card.access_number.parse().unwrap())
}

/// Out of file descriptors: a flood of connections from many addresses
/// exhausts the process's descriptors. The appliance keeps answering on
/// open connections, counts the failed accepts, does not die (RocksDB
/// included), and serves new readers and scrapes again once the flood
/// ends, without a restart.
#[tokio::test]
async fn exhausted_descriptors_are_survived_and_recovered_from() {
    use portcullis::protocol::Reason;
    let h = ProcHarness::new(|c| {
        c.reader.handshake_timeout_ms = 2_000;
        c.admin.handshake_timeout_ms = 2_000;
    });
    let mut p = h
        .try_start_limited(Some(192))
        .unwrap_or_else(|log| panic!("{log}"));
    let (_, number) = one_card(&h, &p).await;
    let mut open = ReaderClient::connect(p.reader, h.reader_tls())
        .await
        .unwrap();
    let granted =
        |f: Frame| matches!(f, Frame::VerifyResult { reason, .. } if reason == Reason::Granted);
    assert!(granted(open.verify(1, 1, &number).await.unwrap()));

    // More connections than descriptors, from 16 source addresses, held
    // open without a handshake.
    let mut flood = Vec::new();
    for i in 0..300u32 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(format!("127.0.1.{}:0", 1 + i % 16).parse().unwrap())
            .unwrap();
        if let Ok(Ok(c)) =
            tokio::time::timeout(Duration::from_millis(500), s.connect(p.reader)).await
        {
            flood.push(c);
        }
    }
    assert!(flood.len() > 192, "the flood reached {}", flood.len());
    // The open connection is still answered, again and again.
    for id in 2..20 {
        assert!(granted(open.verify(id, 1, &number).await.unwrap()));
    }
    assert!(p.running(), "the appliance died when descriptors ran out");

    // The flood ends: new readers and scrapes are served again.
    drop(flood);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut again = loop {
        if let Ok(r) = ReaderClient::connect(p.reader, h.reader_tls()).await {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new reader admitted after the flood"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(granted(again.verify(1, 1, &number).await.unwrap()));
    let (s, _) = readyz(p.metrics).await;
    assert_eq!(s, 200);
    let (_, text) = crate::common::http_get(p.metrics, "/metrics").await;
    let errors: f64 = text
        .lines()
        .filter(|l| l.starts_with("portcullis_accept_errors_total{listener=\"reader\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(errors > 0.0, "failed accepts are counted:\n{text}");
    assert!(p.running());
}
