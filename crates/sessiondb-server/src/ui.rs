//! The web UI: one HTML page, a script and a stylesheet, compiled into the binary. The script renders pages
//! from the API with `textContent` only (transcripts are never interpreted as HTML) and follows
//! `/api/events` to update open pages live.

use crate::AppState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
            }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    SCRIPT,
                )
                    .into_response()
            }),
        )
        .route(
            "/app.css",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
            }),
        )
}
