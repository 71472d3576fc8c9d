//! The console's routes: one module per area of the office's work.

use axum::Router;

use super::Console;

/// Every page and form target.
pub fn routes() -> Router<Console> {
    Router::new()
        .merge(super::desk::routes())
        .merge(super::holders::routes())
        .merge(super::keys::routes())
        .merge(super::video::routes())
}
