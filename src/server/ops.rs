//! The operations listener: Prometheus `/metrics`, `/healthz`, `/readyz`.
//!
//! Plain HTTP on loopback by default: it serves counts and timings only,
//! never an access number or a name.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::shared::Shared;
use crate::config::ms;
use crate::server::listener::{accept_loop, reset, Listener, Pending};

/// The routes.
pub fn router(core: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(core)
}

async fn metrics(State(core): State<Arc<Shared>>) -> impl IntoResponse {
    core.metrics.credentials.set(core.cards.map().len() as f64);
    for l in Listener::ALL {
        let g = core.gates.get(l);
        core.metrics.listener_gauges(l, g.open(), g.max());
    }
    core.metrics
        .journal_queue
        .set(core.journal.queue_depth() as f64);
    let c = core.clone();
    // The oldest-record look-up touches RocksDB: keep it off the reactor.
    let _ = tokio::task::spawn_blocking(move || c.journal.refresh_oldest_gauge()).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        core.metrics.render(),
    )
}

async fn readyz(State(core): State<Arc<Shared>>) -> impl IntoResponse {
    let problems = core.readiness();
    if problems.is_empty() {
        let degraded = core.degraded();
        if degraded.is_empty() {
            (StatusCode::OK, "ready\n".to_owned())
        } else {
            (
                StatusCode::OK,
                format!("ready, degraded: {}\n", degraded.join("; ")),
            )
        }
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
    }
}

/// Serves until `stop` turns true, within the bounds of the ops
/// [`crate::server::listener::Gate`]: each request's headers must arrive within
/// `metrics.header_timeout_ms` and a connection lives at most
/// `metrics.connection_timeout_ms`, so idle or slow peers cannot pile up.
pub async fn run(listener: TcpListener, core: Arc<Shared>, stop: watch::Receiver<bool>) {
    let app = router(core.clone());
    let gate = core.gates.ops.clone();
    let metrics = core.metrics.clone();
    let conn_stop = stop.clone();
    accept_loop(listener, gate, metrics, stop, move |p: Pending| {
        let app = app.clone();
        let mut stop = conn_stop.clone();
        let cfg = core.config.metrics.clone();
        let slot = core.gates.ops.enter();
        async move {
            let Some(_slot) = slot else {
                reset(p.tcp);
                return;
            };
            // Unauthenticated for its whole life: it keeps its place among
            // its address's connections until it ends.
            let _place = p.guard;
            let _ = p.tcp.set_nodelay(true);
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        use tower::ServiceExt;
                        app.oneshot(req).await
                    }
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(ms(cfg.header_timeout_ms))
                .serve_connection(hyper_util::rt::TokioIo::new(p.tcp), svc);
            tokio::select! {
                _ = tokio::time::timeout(ms(cfg.connection_timeout_ms), conn) => {}
                _ = crate::server::shutdown::stopped(&mut stop) => {}
            }
        }
    })
    .await
}
