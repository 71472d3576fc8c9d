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

use crate::core::Core;

/// The routes.
pub fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(core)
}

async fn metrics(State(core): State<Arc<Core>>) -> impl IntoResponse {
    core.metrics.credentials.set(core.cards.map().len() as f64);
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

async fn readyz(State(core): State<Arc<Core>>) -> impl IntoResponse {
    if core.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Serves until `stop` turns true.
pub async fn run(listener: TcpListener, core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let app = router(core);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = crate::shutdown::stopped(&mut stop).await;
        })
        .await;
}
