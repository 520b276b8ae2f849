//! Accepting connections without letting slow or idle clients lock everyone out.
//!
//! A client must send a request's headers within [`ServeOptions::header_timeout`] (also the longest an idle
//! keep-alive connection is kept), and its body within [`ServeOptions::body_timeout`]. Open connections are
//! capped below the process's open-file limit; at the cap, a new connection takes the place of the oldest one
//! that has not yet sent a whole request (the slow-header attack), or is refused when every connection is
//! busy. A few seconds into a slow-header attack, legitimate requests are served again.

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Limits on clients.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers, and how long an idle keep-alive connection
    /// stays open.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Connections open at once; past it the oldest that has not sent a request is dropped.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            max_connections: default_max_connections(),
        }
    }
}

/// File descriptors kept free for the database, the watcher and the files a sync reads.
const RESERVED_FDS: usize = 128;

/// The open-file limit less what the rest of the server needs (at least 16).
pub fn default_max_connections() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| soft_open_file_limit(&text));
    max_connections_for(limit.unwrap_or(1024))
}

fn max_connections_for(open_file_limit: usize) -> usize {
    open_file_limit.saturating_sub(RESERVED_FDS).max(16)
}

/// The soft `RLIMIT_NOFILE` in the text of `/proc/self/limits`; `None` when absent or `unlimited`.
fn soft_open_file_limit(limits: &str) -> Option<usize> {
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
}

/// One open connection, as the cap sees it.
struct Tracked {
    /// Set once the connection has sent a whole request's headers.
    requested: Arc<AtomicBool>,
    abort: tokio::task::AbortHandle,
}

/// Open connections by accept order.
#[derive(Default)]
struct Connections {
    open: BTreeMap<u64, Tracked>,
}

impl Connections {
    /// Makes room for one more connection: drops the oldest that has not sent a request. `false` when every
    /// open connection has (the new one is then refused).
    fn make_room(&mut self, cap: usize) -> bool {
        if self.open.len() < cap {
            return true;
        }
        let victim = self
            .open
            .iter()
            .find(|(_, c)| !c.requested.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.open.remove(&id)) {
            Some(conn) => {
                conn.abort.abort();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        options.body_timeout,
    ));
    let connections = Arc::new(Mutex::new(Connections::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: wait a moment, go on.
                    tracing::warn!(%err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Reap finished connection tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        // The lock is held until the new connection is registered, so a task that ends at once still finds
        // (and removes) its own entry.
        let Ok(mut open) = connections.lock() else {
            break;
        };
        if !open.make_room(options.max_connections) {
            tracing::warn!(
                max = options.max_connections,
                "connection refused: every open connection is busy"
            );
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let requested = Arc::new(AtomicBool::new(false));
        let seen = requested.clone();
        let router = app.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            seen.store(true, Ordering::Relaxed);
            router.clone().oneshot(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .max_buf_size(64 * 1024);
        let mut stop = stop_rx.clone();
        let registry = connections.clone();
        let abort = tasks.spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            if let Ok(mut c) = registry.lock() {
                c.open.remove(&id);
            }
        });
        open.open.insert(id, Tracked { requested, abort });
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             95000                95000                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(soft_open_file_limit(limits), Some(1024));
        assert_eq!(max_connections_for(1024), 896);
        assert_eq!(max_connections_for(100), 16);
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_open_file_limit(unlimited), None);
        assert!(default_max_connections() >= 16);
    }
}
