//! sessiondb's HTTP side: the JSON API (documented in `openapi.json`), Server-Sent Events for live changes, the
//! web UI (assets compiled in), and the live syncer that keeps the index current while serving.
//!
//! [`router`] builds the whole app from an [`AppState`], so tests drive it over real HTTP on port 0; [`serve`]
//! runs it until a shutdown future resolves. Reads use a small pool of read connections (SQLite in WAL mode),
//! and syncing happens on its own thread, so sync work never blocks API reads.

mod api;
mod error;
pub mod events;
mod guard;
mod listener;
pub mod live;
mod ui;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use sessiondb_core::{Store, StoreError};
use sessiondb_service::{ErrorKind, ServiceError};
use sessiondb_store::{DynStore, Location};
use std::sync::{Arc, Mutex};

pub use error::ApiError;
pub use events::{Event, Events};
pub use guard::HostPolicy;
pub use listener::{default_max_connections, ServeOptions};
pub use live::{LiveSync, SyncStatus};

/// Requests bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
form-action 'self'";

/// Read connections to the index, opened on demand (through the store opener) and reused.
pub struct Readers {
    location: Location,
    pool: Mutex<Vec<DynStore>>,
}

impl Readers {
    pub fn new(location: Location) -> Readers {
        Readers {
            location,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a connection from the pool.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
        let mut store = match pooled {
            Some(store) => store,
            None => sessiondb_store::open(&self.location)
                .map_err(|e| ApiError::internal(e.to_string()))?,
        };
        let result = f(store.as_mut());
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < 8 {
                pool.push(store);
            }
        }
        result
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub readers: Arc<Readers>,
    pub events: Events,
    pub live: LiveSync,
    /// When set, every request must carry it (`Authorization: Bearer …`, or `?token=…` on a GET).
    pub token: Option<Arc<str>>,
    /// The `Host` names served; any other gets 421 (against DNS rebinding).
    pub hosts: Arc<HostPolicy>,
}

impl AppState {
    /// Runs `f` on a read connection without blocking the async runtime.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err.kind() {
            ErrorKind::Invalid => ApiError::bad_request(err.to_string()),
            ErrorKind::NotFound => ApiError::not_found(err.to_string()),
            ErrorKind::Failed => ApiError::internal(err.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::internal(err.to_string())
    }
}

/// The whole app: API, events and UI, behind the trust boundary (`guard.rs`: Host, origin and content type
/// of writes, token), with JSON errors and the security headers.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(ui::routes())
        .fallback(|| async { ApiError::not_found("no such page or endpoint") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_host,
        ))
        .layer(middleware::from_fn(guard::json_errors))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether an address may be served without a token (loopback only).
pub fn is_loopback(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serves `state` on `listener` until `shutdown` resolves, with the client limits of `options`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener::serve_with(listener, router(state), options, shutdown).await
}
