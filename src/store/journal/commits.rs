//! Who waits for which group commit. Each connection that has appended a
//! round waits for the one commit that covers it and is woken by that
//! commit alone: waking every waiter on every commit (a broadcast) costs
//! one wake-up per waiting connection per commit, which at tens of
//! thousands of commits a second and hundreds of connections is most of
//! the CPU the answers wait for.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// The highest committed sequence, the failure epoch, and the waiters.
pub(super) struct Commits {
    inner: Mutex<Inner>,
}

struct Inner {
    seq: u64,
    epoch: u64,
    waiting: BTreeMap<u64, Vec<oneshot::Sender<bool>>>,
}

impl Commits {
    pub(super) fn new(seq: u64) -> Self {
        Commits {
            inner: Mutex::new(Inner {
                seq,
                epoch: 0,
                waiting: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current failure epoch.
    pub(super) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Everything up to `seq` is in the WAL: wakes its waiters.
    pub(super) fn committed(&self, seq: u64) {
        let ready = {
            let mut g = self.lock();
            g.seq = g.seq.max(seq);
            let rest = g.waiting.split_off(&(seq + 1));
            std::mem::replace(&mut g.waiting, rest)
        };
        for tx in ready.into_values().flatten() {
            let _ = tx.send(true);
        }
    }

    /// A write failed: every waiter of the epoch is answered "unknown"
    /// (answer nothing), and later appends belong to the next epoch.
    pub(super) fn failed(&self) {
        let all = {
            let mut g = self.lock();
            g.epoch += 1;
            std::mem::take(&mut g.waiting)
        };
        for tx in all.into_values().flatten() {
            let _ = tx.send(false);
        }
    }

    /// Waits until `seq`, appended in `epoch`, is committed: `true`, or
    /// `false` if a write failed since (or the journal closed).
    pub(super) async fn wait(&self, seq: u64, epoch: u64) -> bool {
        let rx = {
            let mut g = self.lock();
            if g.epoch != epoch {
                return false;
            }
            if g.seq >= seq {
                return true;
            }
            let (tx, rx) = oneshot::channel();
            g.waiting.entry(seq).or_default().push(tx);
            rx
        };
        rx.await.unwrap_or(false)
    }

    /// Drops every waiter (the journal closes): they answer nothing.
    pub(super) fn close(&self) {
        let all = std::mem::take(&mut self.lock().waiting);
        drop(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_waiter_is_woken_by_its_commit_and_failures_answer_nothing() {
        let c = std::sync::Arc::new(Commits::new(0));
        let (a, b) = (c.clone(), c.clone());
        let w5 = tokio::spawn(async move { a.wait(5, 0).await });
        let w9 = tokio::spawn(async move { b.wait(9, 0).await });
        tokio::task::yield_now().await;
        c.committed(5);
        assert!(w5.await.unwrap());
        assert!(!w9.is_finished());
        c.failed();
        assert!(!w9.await.unwrap());
        // An old epoch's ticket never succeeds, even once committed.
        c.committed(20);
        assert!(!c.wait(10, 0).await);
        assert!(c.wait(10, 1).await);
    }
}
