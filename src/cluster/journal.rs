//! The replicated journal: this appliance's records copied to the JOURNAL
//! stream after they are in its WAL, and the other appliances' records
//! imported into its journal.
//!
//! Replication reads the journal itself, from the last key the stream has
//! acknowledged (kept in RocksDB): nothing is held in memory that a crash
//! could lose, and a long cut-off from NATS costs only lag, which is a
//! metric. A batch is published with a message id, so a retry after a lost
//! acknowledgement is stored once.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use super::{Cluster, ORIGIN};
use crate::app::shared::Shared;
use crate::store::cf;
use crate::store::journal::node_of;

const BATCH_V1: u8 = 1;
/// Records per message, at most.
const BATCH: usize = 2048;
const REPLICATED_KEY: &[u8] = b"cluster/journal-replicated";

type Records = Vec<crate::store::journal::RawRecord>;

fn encode(records: &Records) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + records.len() * 64);
    out.push(BATCH_V1);
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for (k, v) in records {
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v);
    }
    out
}

pub(super) fn decode(b: &[u8]) -> Option<Records> {
    let (&v, rest) = b.split_first()?;
    if v != BATCH_V1 || rest.len() < 4 {
        return None;
    }
    let n = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
    let mut at = &rest[4..];
    let mut out = Vec::with_capacity(n.min(BATCH));
    for _ in 0..n {
        if at.len() < 18 {
            return None;
        }
        let k: [u8; 16] = at[..16].try_into().ok()?;
        let len = usize::from(u16::from_be_bytes(at[16..18].try_into().ok()?));
        let v = at.get(18..18 + len)?.to_vec();
        out.push((k, v));
        at = &at[18 + len..];
    }
    at.is_empty().then_some(out)
}

fn cursor(s: &Shared) -> Option<[u8; 16]> {
    let st = &s.store;
    st.db()
        .get_cf(st.cf(cf::META), REPLICATED_KEY)
        .ok()
        .flatten()
        .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
}

fn seq_of(k: &[u8; 16]) -> u64 {
    u64::from_be_bytes(k[8..].try_into().unwrap_or([0; 8]))
}

pub(super) fn time_of(k: &[u8; 16]) -> u64 {
    u64::from_be_bytes(k[..8].try_into().unwrap_or([0; 8]))
}

/// Copies this appliance's journal to the stream, in order, for ever.
pub(super) async fn replicate(c: Arc<Cluster>, s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let subject = format!("{}.{}", c.journal_prefix, s.journal.node());
    let mut committed = s.journal.committed();
    let mut at = cursor(&s);
    let limit = c.journal_age(s.config.retention());
    let limit_us = limit.as_micros() as u64;
    loop {
        if *stop.borrow() {
            return;
        }
        // A record older than the stream's age limit is never published:
        // one journaled while cut off from NATS for longer than the window
        // must not live on in the stream past its 14 days.
        let since = s.clock.now_micros().saturating_sub(limit_us) + 1;
        let (sc, after) = (s.clone(), at);
        let batch = tokio::task::spawn_blocking(move || sc.journal.own_after(after, since, BATCH))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let newest = committed.borrow().seq;
        let done = at.map(|k| seq_of(&k)).unwrap_or(0);
        let mine = |q: u64| if node_of(q) == s.journal.node() { q } else { 0 };
        s.metrics
            .cluster_journal_unreplicated
            .set(mine(newest).saturating_sub(mine(done)) as f64);
        let Some(first) = batch.first() else {
            s.metrics.cluster_journal_lag.set(0.0);
            tokio::select! {
                _ = stop.changed() => return,
                _ = committed.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        };
        let age = s.clock.now_micros().saturating_sub(time_of(&first.0));
        s.metrics.cluster_journal_lag.set(age as f64 / 1e6);
        if !c.connected() {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            continue;
        }
        let last = batch.last().map(|r| r.0).expect("non-empty");
        let id = format!("{}-{}-{}", c.cfg.name, seq_of(&first.0), seq_of(&last));
        // The batch is erased by the servers when its oldest record
        // reaches the age limit, however late it was published (the
        // stream's own age limit counts from publication).
        let ttl = Duration::from_micros(limit_us.saturating_sub(age)).max(Duration::from_secs(1));
        let msg = PublishMessage::build()
            .payload(Bytes::from(encode(&batch)))
            .message_id(id.as_str())
            .ttl(ttl)
            .header(ORIGIN, c.cfg.name.as_str());
        let acked = match c.js.send_publish(subject.clone(), msg).await {
            Ok(f) => matches!(
                tokio::time::timeout(
                    Duration::from_millis(c.cfg.commit_timeout_ms),
                    f.into_future()
                )
                .await,
                Ok(Ok(_))
            ),
            Err(_) => false,
        };
        if !acked {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let st = &s.store;
        if let Err(e) = st.db().put_cf(st.cf(cf::META), REPLICATED_KEY, last) {
            tracing::warn!(error = %e, "could not record the journal replication position");
        }
        s.metrics
            .cluster_journal_replicated
            .increment(batch.len() as u64);
        at = Some(last);
    }
}

/// Imports the other appliances' records into this appliance's journal.
pub(super) async fn import(c: Arc<Cluster>, s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Some(stream) = c.journal_stream.get().cloned() else {
        return;
    };
    let own = format!("{}.{}", c.journal_prefix, s.journal.node());
    loop {
        let mut position = s.journal.imported().unwrap_or(0);
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: position + 1,
                },
                filter_subject: format!("{}.>", c.journal_prefix),
                ..Default::default()
            })
            .await;
        let mut msgs = match consumer {
            Ok(cons) => match cons.messages().await {
                Ok(m) => m,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                _ = stop.changed() => return,
                m = msgs.next() => m,
            };
            let Some(Ok(m)) = next else { break };
            let Ok(info) = m.info() else { break };
            let seq = info.stream_sequence;
            if seq <= position {
                continue;
            }
            if m.subject.as_str() == own {
                // Ours, unless another appliance was given our number:
                // then neither sees the other's decisions in look-ups.
                // Said loudly and the appliance is not ready.
                let origin = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(ORIGIN))
                    .map(|v| v.as_str().to_owned());
                if let Some(o) = origin.filter(|o| o != &c.cfg.name) {
                    let why = format!(
                        "appliance {o} journals as node {} too: every appliance needs its own cluster.node",
                        s.journal.node()
                    );
                    tracing::error!("{why}");
                    *c.status.conflict.lock().expect("status lock") = Some(why);
                }
                position = seq;
                continue;
            }
            let Some(records) = decode(&m.payload) else {
                tracing::error!(
                    position = seq,
                    "a replicated journal batch cannot be read; skipped"
                );
                position = seq;
                continue;
            };
            let sc = s.clone();
            let n = tokio::task::spawn_blocking(move || sc.journal.import(&records, seq)).await;
            match n {
                Ok(Ok(n)) => {
                    s.metrics.cluster_journal_imported.increment(n as u64);
                    position = seq;
                }
                _ => {
                    tracing::warn!(
                        position = seq,
                        "replicated journal batch not imported; retrying"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_garbage_is_refused() {
        let recs: Records = vec![([1; 16], vec![1, 2, 3]), ([2; 16], vec![])];
        let b = encode(&recs);
        assert_eq!(decode(&b).unwrap(), recs);
        assert!(decode(&b[..b.len() - 1]).is_none());
        let mut extra = b.clone();
        extra.push(0);
        assert!(decode(&extra).is_none());
        assert!(decode(&[9]).is_none());
    }
}
