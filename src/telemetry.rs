//! The tracing subscriber: pretty for terminals, JSON for containers, filtered by
//! `RUST_LOG`. Whatever any crate logs, at any level, goes through a writer that
//! replaces the configured secrets, and the HTTP client crates are capped at
//! `info` because their debug output quotes request URLs (with the key).

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::secret::Secret;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For terminals.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// An error and its sources, outermost first, for `error.cause_chain`.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Installs the global subscriber. Safe to call more than once (tests): later
/// calls are ignored.
pub fn init(format: LogFormat, secrets: Vec<Secret>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("reqwest=info".parse().expect("static directive"))
        .add_directive("hyper_util=info".parse().expect("static directive"))
        .add_directive("hyper=info".parse().expect("static directive"))
        .add_directive("h2=info".parse().expect("static directive"));
    // rmcp logs every MCP request at INFO (with a debug dump of the client's
    // info): transport detail, shown only when RUST_LOG asks for rmcp.
    let filter = if std::env::var("RUST_LOG").is_ok_and(|v| v.contains("rmcp")) {
        filter
    } else {
        filter.add_directive("rmcp=warn".parse().expect("static directive"))
    };
    let writer = ScrubbingWriter { secrets };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.with_ansi(false).try_init(),
    };
}

/// Writes log lines to stdout with every secret replaced by `[redacted]`.
#[derive(Clone)]
pub struct ScrubbingWriter {
    secrets: Vec<Secret>,
}

impl<'a> MakeWriter<'a> for ScrubbingWriter {
    type Writer = ScrubbingLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingLine {
            secrets: &self.secrets,
        }
    }
}

pub struct ScrubbingLine<'a> {
    secrets: &'a [Secret],
}

impl Write for ScrubbingLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut stdout = io::stdout().lock();
        if self.secrets.is_empty() {
            stdout.write_all(buf)?;
        } else {
            let text = crate::secret::scrub_all(self.secrets, &String::from_utf8_lossy(buf));
            stdout.write_all(text.as_bytes())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
