//! `sessiondb serve`: sync, then keep syncing live and serve the HTTP API, live events and the web UI.

use super::{sync_with_progress, Ctx};
use crate::exit::usage;
use crate::{output, serve_status};
use anyhow::{Context, Result};
use sessiondb_service::Service;
use sessiondb_store::{DynStore, Location};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (HOST:PORT, HOST a name or an IP); anything but loopback needs --token
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub listen: String,
    /// Every request must carry this token (Authorization: Bearer …, or ?token=… in the browser)
    #[arg(long, env = "SESSIONDB_TOKEN")]
    pub token: Option<String>,
    /// Also answer requests for this Host name (repeatable; localhost, IP addresses and the --listen host
    /// are always answered; any other name is refused, against DNS rebinding)
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Seconds between full rescans, which catch changes the file watcher missed
    #[arg(long, default_value_t = 30)]
    pub rescan_secs: u64,
}

pub fn run(args: Args, ctx: &mut Ctx<'_>, mut opened: DynStore, location: Location) -> Result<i32> {
    let Args {
        listen,
        token,
        allow_hosts,
        rescan_secs,
    } = args;
    let settings = ctx.settings;
    let listen = parse_listen(&listen)?;
    let addr = listen.addr;
    let token = token.filter(|t| !t.is_empty());
    if !sessiondb_server::is_loopback(&addr) && token.is_none() {
        return Err(usage(format!("refusing to serve on {addr} without a token: transcripts hold secrets; pass --token (or SESSIONDB_TOKEN), or listen on 127.0.0.1")));
    }
    let roots: Vec<PathBuf> = settings
        .claude_dirs
        .value
        .iter()
        .filter(|r| r.is_dir())
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect();
    // A failed first sync (disk full, database locked) must not stop the server: it serves the index
    // as it is, reports the error in /api/health and /api/sync/status, and retries.
    match sync_with_progress(&mut Service::new(opened.as_mut()), &roots, 0) {
        Ok(report) => {
            output::print_sync_report(&mut std::io::stderr(), &report)?;
            output::print_sync_warnings(&mut std::io::stderr(), &report)?;
        }
        Err(err) => eprintln!(
            "sessiondb: warning: the first sync failed ({err:#}); serving the index as it is and retrying"
        ),
    }
    drop(opened);
    let hosts = sessiondb_server::HostPolicy::new(
        Some(&listen.host),
        &[allow_hosts, settings.allow_hosts.clone()].concat(),
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let events = sessiondb_server::Events::new();
        let live = sessiondb_server::LiveSync::start(
            location.clone(),
            roots,
            events.clone(),
            true,
            std::time::Duration::from_secs(rescan_secs.max(1)),
        );
        let state = sessiondb_server::AppState {
            readers: std::sync::Arc::new(sessiondb_server::Readers::new(location.clone())),
            events,
            live,
            token: token.map(|t| std::sync::Arc::from(t.as_str())),
            hosts: std::sync::Arc::new(hosts),
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr()?;
        // Tell `doctor` how syncing goes.
        tokio::spawn(serve_status::publish(
            state.live.clone(),
            settings.db.value.clone(),
            bound.to_string(),
        ));
        // The host as typed (a name stays a name), with the port actually bound.
        let host = if listen.host.contains(':') {
            format!("[{}]", listen.host)
        } else {
            listen.host.clone()
        };
        eprintln!(
            "sessiondb: serving http://{host}:{}/ on {bound} (API at /api, events at /api/events); Ctrl-C stops",
            bound.port()
        );
        // Ctrl-C stops accepting and lets requests finish; open event streams never finish, so give
        // them two seconds.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let options = sessiondb_server::ServeOptions::default();
        let server = sessiondb_server::serve(listener, state, options, async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stop_tx.send(());
        });
        tokio::select! {
            result = server => result.context("serving")?,
            _ = async {
                let _ = stop_rx.await;
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            } => {}
        }
        anyhow::Ok(())
    })?;
    Ok(0)
}

/// `--listen`: an address to bind and the host as typed (a name such as `localhost`, or an IP), which the
/// server's Host check will need.
#[derive(Debug, Clone)]
pub struct Listen {
    host: String,
    addr: std::net::SocketAddr,
}

pub fn parse_listen(text: &str) -> Result<Listen> {
    use std::net::ToSocketAddrs;
    let expected = || {
        usage(format!(
            "--listen {text:?}: expected HOST:PORT, e.g. 127.0.0.1:7777 or localhost:7777"
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(expected());
    }
    let addrs: Vec<std::net::SocketAddr> = text
        .to_socket_addrs()
        .map_err(|err| usage(format!("--listen {text:?}: cannot resolve {host:?}: {err}")))?
        .collect();
    // IPv4 first: `localhost` often resolves to ::1 first, which fails where IPv6 is off.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| usage(format!("--listen {text:?}: {host:?} has no address")))?;
    Ok(Listen {
        host: host.to_owned(),
        addr,
    })
}
