//! The outbox's e-mail sender: notices the appliance sends itself (a key
//! order ready for pick-up, keys to be returned) go to an SMTP relay —
//! normally the site's mail relay on the appliance's loopback, which
//! handles TLS and onward delivery. Without `[notify] smtp`, e-mails stay in
//! the outbox for the office to send by hand (`GET /v1/notifications`).
//!
//! Each e-mail is claimed through the ledger before it is sent (so only one
//! appliance of a cluster sends it), marked sent afterwards, and retried
//! with back-off on failure. A crash between sending and marking means it
//! is sent again once the claim expires: at least once, never lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::app::shared::Shared;
use crate::clock::rfc3339;
use crate::ledger::{Change, Effect, LedgerError};
use crate::records::outbox::{self, Notification};

/// How long a claim keeps other senders off an e-mail: longer than one
/// whole attempt may take.
const CLAIM_MICROS: u64 = 120_000_000;
/// The longest one attempt may take.
const ATTEMPT: Duration = Duration::from_secs(60);
use crate::records::outbox::MAX_MAIL_ATTEMPTS as MAX_ATTEMPTS;

/// Why an e-mail could not be handed to the relay.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Network failure or timeout.
    #[error("SMTP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The relay answered with an error.
    #[error("SMTP relay refused at {step}: {reply}")]
    Refused {
        /// The command it refused.
        step: &'static str,
        /// Its reply line.
        reply: String,
    },
    /// The relay took too long.
    #[error("SMTP relay timed out at {0}")]
    Timeout(&'static str),
}

impl MailError {
    /// A refusal that a retry will not change (a 5xx reply).
    pub fn permanent(&self) -> bool {
        matches!(self, MailError::Refused { reply, .. } if reply.starts_with('5'))
    }
}

async fn reply(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    step: &'static str,
    want: &[u8],
) -> Result<(), MailError> {
    // Multi-line replies: `250-...` lines, then `250 ...`.
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
            .await
            .map_err(|_| MailError::Timeout(step))??;
        if n == 0 {
            return Err(MailError::Refused {
                step,
                reply: "connection closed".into(),
            });
        }
        let code = line.as_bytes();
        if code.len() < 4 || !want.iter().any(|w| code[0] == *w) {
            return Err(MailError::Refused {
                step,
                reply: line.trim_end().chars().take(200).collect(),
            });
        }
        if code[3] != b'-' {
            return Ok(());
        }
    }
}

/// Sends one plain-text e-mail through the relay at `relay` (plain SMTP:
/// a relay on the appliance's own loopback).
pub async fn send(
    relay: &str,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), MailError> {
    for s in [from, to, subject] {
        if s.contains(['\r', '\n']) {
            return Err(MailError::Refused {
                step: "headers",
                reply: "a header value holds a line break".into(),
            });
        }
    }
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(relay))
        .await
        .map_err(|_| MailError::Timeout("connect"))??;
    let _ = tcp.set_nodelay(true);
    let (rd, mut wr) = tcp.into_split();
    let mut rd = BufReader::new(rd);
    reply(&mut rd, "greeting", b"2").await?;
    let steps: [(&'static str, String, &[u8]); 4] = [
        ("EHLO", "EHLO portcullis\r\n".into(), b"2"),
        ("MAIL FROM", format!("MAIL FROM:<{from}>\r\n"), b"2"),
        ("RCPT TO", format!("RCPT TO:<{to}>\r\n"), b"2"),
        ("DATA", "DATA\r\n".into(), b"3"),
    ];
    for (step, cmd, want) in steps {
        wr.write_all(cmd.as_bytes()).await?;
        reply(&mut rd, step, want).await?;
    }
    let mut msg = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default()
    );
    for line in body.lines() {
        // Dot-stuffing: a line that begins with '.' gets another.
        if line.starts_with('.') {
            msg.push('.');
        }
        msg.push_str(line);
        msg.push_str("\r\n");
    }
    msg.push_str(".\r\n");
    wr.write_all(msg.as_bytes()).await?;
    reply(&mut rd, "message", b"2").await?;
    wr.write_all(b"QUIT\r\n").await?;
    let _ = reply(&mut rd, "QUIT", b"2").await;
    Ok(())
}

/// Commits `f` applied to notification `id` (if it is still there).
async fn update(
    s: &Arc<Shared>,
    id: String,
    f: impl Fn(&mut Notification) -> bool + Send + Sync + 'static,
) -> Result<bool, LedgerError> {
    crate::ledger::commit(s, move |s| {
        let now = s.clock.now_micros();
        let Some(mut n) = outbox::get(&s.store, &id)? else {
            return Ok((Change::at(now), false));
        };
        if !f(&mut n) {
            return Ok((Change::at(now), false));
        }
        Ok::<_, LedgerError>((Change::at(now).with(Effect::Notification(n)), true))
    })
    .await
}

/// Sends the outbox's e-mails, for ever.
pub async fn run(s: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let cfg = s.config.notify.clone();
    if cfg.smtp.is_empty() {
        return;
    }
    let me = format!(
        "{}:{}",
        if s.config.cluster.name.is_empty() {
            "appliance"
        } else {
            s.config.cluster.name.as_str()
        },
        std::process::id()
    );
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = crate::server::shutdown::stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(1);
        let sc = s.clone();
        let Ok(Ok(all)) = tokio::task::spawn_blocking(move || outbox::list(&sc.store)).await else {
            continue;
        };
        let now = s.clock.now_micros();
        let pending: Vec<Notification> = all.into_iter().filter(|n| n.sendable(now)).collect();
        s.metrics.notifications_pending.set(pending.len() as f64);
        for n in pending {
            // Claim it from now (not from when the outbox was read): in a
            // cluster, one appliance wins.
            let who = me.clone();
            let clock = s.clock.clone();
            let claimed = update(&s, n.id.clone(), move |n| {
                let now = clock.now_micros();
                let ok = n.sendable(now);
                if ok {
                    if let Some(m) = n.mail.as_mut() {
                        m.claimed_by = Some((who.clone(), now + CLAIM_MICROS));
                    }
                }
                ok
            })
            .await;
            if !matches!(claimed, Ok(true)) {
                continue;
            }
            let Some(m) = n.mail.clone() else { continue };
            let attempt = tokio::time::timeout(
                ATTEMPT,
                send(&cfg.smtp, &cfg.from, &m.to, &m.subject, &m.body),
            )
            .await
            .unwrap_or(Err(MailError::Timeout("the whole attempt")));
            match attempt {
                Ok(()) => {
                    let at = rfc3339(s.clock.now_micros());
                    let _ = update(&s, n.id.clone(), move |n| {
                        n.done = true;
                        if let Some(m) = n.mail.as_mut() {
                            m.sent_at = Some(at.clone());
                            m.claimed_by = None;
                        }
                        true
                    })
                    .await;
                    s.metrics.notifications_sent.increment(1);
                    tracing::info!(notification = %n.id, "notice e-mailed");
                }
                Err(e) => {
                    s.metrics.notifications_failed.increment(1);
                    tracing::warn!(notification = %n.id, error = %e, "notice not sent; retrying");
                    let why = e.to_string();
                    let permanent = e.permanent();
                    let _ = update(&s, n.id.clone(), move |n| {
                        if let Some(m) = n.mail.as_mut() {
                            m.attempts += 1;
                            m.last_error = Some(why.clone());
                            m.claimed_by = None;
                            // Refused for good, or tried long enough: the
                            // office takes it from here (the notice stays,
                            // failed, until marked done).
                            if permanent || m.attempts >= MAX_ATTEMPTS {
                                m.attempts = m.attempts.max(MAX_ATTEMPTS);
                            }
                        }
                        true
                    })
                    .await;
                    wait = Duration::from_secs(cfg.retry_secs.max(1));
                }
            }
        }
    }
}
