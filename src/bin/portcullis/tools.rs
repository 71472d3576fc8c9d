//! `load` and `scale`: the measurement tools.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use portcullis::client::AdminClient;
use portcullis::crypto::numbers::AccessNumber;
use portcullis::pki::identity::Role;
use portcullis::pki::PkiDir;
use portcullis::protocol::tls;

use crate::flags::{ClusterBenchCmd, LoadArgs, ScaleCmd};

pub fn load(a: LoadArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.known) {
        bail!("--known is a fraction between 0 and 1");
    }
    if a.redis.is_some() && a.reconnect {
        bail!("--reconnect measures the appliance's reader storm; it does not apply to --redis");
    }
    if let Some(addr) = a.redis {
        return load_redis(addr, a);
    }
    let numbers = match &a.numbers {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.parse::<AccessNumber>())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Issue the cards here when their numbers are to be saved, so the
        // same set can drive another system (make compare).
        let numbers = match (numbers, &a.save_numbers) {
            (Some(n), _) => Some(n),
            (None, Some(path)) => {
                let pki = PkiDir::new(&a.certs);
                let me = pki.client(Role::SecurityOffice, "admin");
                let cfg = tls::client_config(&pki.ca_cert(), &me.cert, &me.key)?;
                let n = portcullis::tools::loadgen::issue_cards(
                    &AdminClient::new(a.admin, cfg),
                    a.cards,
                )
                .await?;
                let text: String = n.iter().map(|x| x.reveal() + "\n").collect();
                std::fs::write(path, text)?;
                Some(n)
            }
            (None, None) => None,
        };
        let opts = portcullis::tools::loadgen::LoadOptions {
            addr: a.addr,
            admin: a.admin,
            certs: a.certs.clone(),
            connections: a.connections,
            depth: a.depth,
            duration: Duration::from_secs_f64(a.duration.max(0.0)),
            rate: a.rate,
            known_fraction: a.known,
            cards: a.cards,
            numbers,
            progress: !a.quiet,
            reconnect: a.reconnect,
        };
        let report = portcullis::tools::loadgen::run(opts.clone()).await?;
        println!(
            "connections {} admitted in {:.3} s ({} failed)",
            report.connected, report.connect_secs, report.connect_failures
        );
        if a.reconnect {
            println!(
                "reconnected {} in {:.3} s ({} on resumed TLS sessions, {} failed)",
                report.reconnected,
                report.reconnect_secs,
                report.resumed,
                report.reconnect_failures
            );
        }
        if report.elapsed > 0.0 {
            print_summary(&report);
        }
        println!("{}", report.result_line(&opts));
        if report.wrong > 0 {
            bail!("{} answers were wrong", report.wrong);
        }
        anyhow::Ok(())
    })
}

pub fn scale(cmd: ScaleCmd) -> Result<()> {
    match cmd {
        ScaleCmd::Create { dir, cards } => {
            if dir.exists() {
                bail!("{} exists; choose a new directory", dir.display());
            }
            let t = portcullis::tools::scale::create(&dir, cards)?;
            println!(
                "wrote {cards} synthetic credentials to {} in {:.1} s",
                dir.display(),
                t.as_secs_f64()
            );
        }
        ScaleCmd::Measure { dir } => {
            if !dir.exists() {
                bail!("{} does not exist", dir.display());
            }
            let (cost, _book) = portcullis::tools::scale::measure_load(&dir)?;
            println!(
                "loaded {} credentials in {:.2} s; RSS grew {:.1} MiB = {:.1} bytes per credential (RSS now {:.1} MiB)",
                cost.credentials,
                cost.load.as_secs_f64(),
                cost.rss_growth as f64 / 1048576.0,
                cost.bytes_per_credential(),
                cost.rss_after as f64 / 1048576.0
            );
            println!(
                "RESULT credentials={} load_s={:.3} bytes_per_credential={:.1}",
                cost.credentials,
                cost.load.as_secs_f64(),
                cost.bytes_per_credential()
            );
        }
    }
    Ok(())
}

pub fn cluster_bench(cmd: ClusterBenchCmd) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            ClusterBenchCmd::Propagation {
                admin,
                readers,
                certs,
                rounds,
            } => {
                let r = portcullis::tools::cluster_bench::propagation(admin, &readers, certs, rounds)
                    .await?;
                let ms = |v: [f64; 3]| {
                    format!(
                        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                        v[0] / 1e3,
                        v[1] / 1e3,
                        v[2] / 1e3
                    )
                };
                println!("{} changes, {} appliances", r.rounds, readers.len());
                println!("acknowledged by the appliance that made it: {}", ms(r.ack_us));
                println!("in force on every appliance (from the request): {}", ms(r.everywhere_us));
                println!("in force on every appliance (after the acknowledgement): {}", ms(r.after_ack_us));
                println!(
                    "RESULT rounds={} ack_p50_us={:.0} ack_p99_us={:.0} all_p50_us={:.0} all_p99_us={:.0} all_max_us={:.0}",
                    r.rounds, r.ack_us[0], r.ack_us[1], r.everywhere_us[0], r.everywhere_us[1], r.everywhere_us[2]
                );
            }
            ClusterBenchCmd::FillLog {
                nats,
                prefix,
                changes,
            } => {
                let (last, rate) =
                    portcullis::tools::cluster_bench::fill_log(&nats, &prefix, changes).await?;
                println!("published {changes} changes ({rate:.0}/s); the log now ends at {last}");
                println!("RESULT last={last} rate={rate:.0}");
            }
        }
        anyhow::Ok(())
    })
}

/// `load --redis`: the same generator against Redis.
fn load_redis(addr: std::net::SocketAddr, a: LoadArgs) -> Result<()> {
    use portcullis::tools::redis_load::{RedisOp, RedisOptions};
    let op = match a.redis_op.as_str() {
        "get" => RedisOp::Get,
        "lookup-journal" => RedisOp::LookupJournal,
        other => bail!("--redis-op is get or lookup-journal, not {other}"),
    };
    let opts = RedisOptions {
        addr,
        certs: a.certs.clone(),
        client: a.redis_client.clone(),
        connections: a.connections,
        depth: a.depth,
        duration: Duration::from_secs_f64(a.duration.max(0.0)),
        rate: a.rate,
        keys: a.cards,
        known_fraction: a.known,
        op,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(portcullis::tools::redis_load::run(opts))?;
    print_summary(&report);
    println!(
        "RESULT target=redis op={} mode={} connections={} depth={} connected={} rps={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} wrong={} errors={}",
        a.redis_op,
        if a.rate.is_some() { "open" } else { "closed" },
        a.connections,
        a.depth,
        report.connected,
        report.throughput(),
        report.p50_us,
        report.p99_us,
        report.p999_us,
        report.max_us,
        report.wrong,
        report.errors
    );
    if report.wrong > 0 {
        bail!("{} answers were wrong", report.wrong);
    }
    Ok(())
}

/// One human line of a load run's answers and latency.
fn print_summary(r: &portcullis::tools::loadgen::LoadReport) {
    println!(
        "{} answers in {:.1} s: {:.0}/s; latency p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us; wrong {}, errors {}",
        r.answered,
        r.elapsed,
        r.throughput(),
        r.p50_us,
        r.p99_us,
        r.p999_us,
        r.max_us,
        r.wrong,
        r.errors
    );
}
