//! `moat serve`: the engine on live traffic, behind HTTP and Envoy ext_authz decision APIs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use std::io::Write;

use crate::config::Config;
use crate::input::Output;

/// Arguments of `moat serve`. Flags win over the `[serve]` section of moat.toml.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Tokens: MOAT_INGEST_TOKEN (ingest) and MOAT_ADMIN_TOKEN (queries, admin \
actions, the dashboard) must be set, each 16 or more characters of its own (for instance \
`openssl rand -hex 24`); MOAT_GUARDRAIL_TOKEN, if set, is the x-api-key LiteLLM must send. \
The [serve] section of moat.toml may hold them instead (docs/deploy.md)."
)]
pub struct Args {
    /// Address of the HTTP API, as IP:PORT or HOST:PORT (`localhost:7878`) [default:
    /// 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR", value_parser = listen_address)]
    listen: Option<SocketAddr>,
    /// Address of the Envoy ext_authz gRPC API, or `off` [default: 127.0.0.1:7879].
    #[arg(long, value_name = "ADDR|off")]
    grpc_listen: Option<String>,
    /// Folder of the store: every acknowledged exchange, verdicts, manual decisions and
    /// the audit log [default: moat-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// An address to listen on: IP:PORT, or HOST:PORT resolved to its first address.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{text:?} is not an address (IP:PORT or HOST:PORT)"))
}

/// Runs the service until Ctrl-C or SIGTERM.
pub fn run(args: Args, config: &Config, out: Output) -> anyhow::Result<ExitCode> {
    let mut serve = config.serve.clone();
    if let Some(listen) = args.listen {
        serve.listen = listen;
    }
    match args.grpc_listen.as_deref() {
        None => {}
        Some("off") => serve.grpc_listen = None,
        Some(addr) => {
            serve.grpc_listen =
                Some(listen_address(addr).map_err(|e| anyhow::anyhow!("--grpc-listen: {e}"))?);
        }
    }
    if let Some(dir) = args.data_dir {
        serve.data_dir = dir;
    }
    let serve = serve.resolve()?;
    let detect = config.detect.clone();
    let intel = config.intel.load(&[], None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("moat-serve")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let data_dir = serve.data_dir.clone();
        let server = moat_server::Server::start(serve, detect, intel).await?;
        if !out.quiet {
            let grpc = server
                .grpc_addr()
                .map_or_else(|| "off".to_owned(), |a| a.to_string());
            let mut stdout = std::io::stdout();
            writeln!(
                stdout,
                "moat serve: http {} grpc {} store {}",
                server.http_addr(),
                grpc,
                data_dir.display()
            )?;
            stdout.flush()?;
        }
        match server.run_until(shutdown_signal()).await {
            Ok(()) => anyhow::Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("moat serve: {e}");
                // EX_SOFTWARE: what the process holds may not be stored; a supervisor
                // restarts it, and the start replays what was.
                anyhow::Ok(ExitCode::from(70))
            }
        }
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
