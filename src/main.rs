//! Thin entry point: parse the configuration, start telemetry, build and run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use cmg_feed_proxy::app::{Application, StartError, shutdown_signal};
use cmg_feed_proxy::config::{self, ConfigError, Invocation, ParseError};
use cmg_feed_proxy::telemetry;

fn main() -> ExitCode {
    // SAFETY: nothing else runs yet (no runtime, no threads), so changing the
    // environment cannot race with a reader.
    unsafe { config::unset_empty_variables() };
    let cli = match config::parse_args() {
        Ok(Invocation::Healthcheck(addr)) => return healthcheck(addr),
        Ok(Invocation::Serve(cli)) => cli,
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::Config(e)) => return usage_error(&e),
    };
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(e) => return usage_error(&e),
    };
    if let Err(e) = config.preflight() {
        return usage_error(&e);
    }
    telemetry::init(config.log_format, config.secrets());
    cmg_feed_proxy::server::raise_open_file_limit(config.server.max_connections);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let app = match Application::build(config).await {
            Ok(app) => app,
            // Said once, on stderr, like every start-up error.
            Err(StartError::DatabaseRefused(e)) => return usage_error(&e),
            Err(e) => {
                eprintln!("error: {}", telemetry::cause_chain(&e));
                return ExitCode::FAILURE;
            }
        };
        match app.run_until_stopped(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error.cause_chain = %telemetry::cause_chain(&e), "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// A bad setting: one line, exit 2 (like clap's own usage errors).
fn usage_error(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// `cmg-feed-proxy healthcheck`: GET /readyz on LISTEN_ADDR; exit 0 when 200.
/// Plain blocking HTTP/1.1 so the container needs no curl and no runtime.
fn healthcheck(mut addr: SocketAddr) -> ExitCode {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    match probe(addr) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("not ready: /readyz answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe(addr: SocketAddr) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: cmg-feed-proxy-healthcheck\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut head[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
