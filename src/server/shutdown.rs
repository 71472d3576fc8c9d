//! The stop signal every listener and connection watches.

use tokio::sync::watch;

/// Resolves once the stop flag is true (or its sender is gone). The watch
/// guard is dropped inside, so the future stays `Send`.
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}
