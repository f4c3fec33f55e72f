//! An HTTP upload service whose scratch files are cleaned up on SIGTERM,
//! after the requests in flight have finished.
//!
//! ```text
//! cargo run --example axum_uploads -- [normal|slow]
//! curl --data-binary @big.bin http://<addr>/upload   # addr from `listening <addr>`
//! kill -TERM <pid>                                   # pid from `ready <pid>`
//! ```
//!
//! `POST /upload` streams the request body into an async temp file from the
//! registry as it arrives, reads the file back and answers
//! `bytes=<n> fnv1a=<16 hex digits>` (a 64-bit FNV-1a of the stored bytes).
//! The server runs in a task tracked by [`Shutdown`]; on SIGTERM it stops
//! accepting, lets the requests in flight finish, then the registry is
//! purged and the process ends killed by SIGTERM.
//!
//! In `slow` mode each request prints `handling` to stdout when it starts
//! and the handler waits a second before answering, so that a request can be
//! in flight when the signal arrives.
//!
//! The scratch root is `$TEMPREG_ROOT`, else the system temp directory.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tempreg::{ResourceRegistry, Shutdown};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

#[derive(Clone)]
struct App {
    registry: ResourceRegistry,
    slow: bool,
}

#[tokio::main]
async fn main() -> io::Result<()> {
    init_tracing();
    let slow = match std::env::args().nth(1).as_deref() {
        None | Some("normal") => false,
        Some("slow") => true,
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mode {other:?}: use normal or slow"),
            ))
        }
    };
    let registry = ResourceRegistry::builder().root(scratch_root()).build()?;
    let shutdown = Shutdown::builder()
        .grace_period(Duration::from_secs(15))
        .cleanup_reserve(Duration::from_secs(3))
        .build();
    shutdown.listen_for_signals()?;
    shutdown.add_registry(&registry);

    let app = Router::new()
        .route("/upload", post(upload))
        .with_state(App { registry, slow });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = shutdown.token().cancelled_owned();
    shutdown.spawn_fallible("http server", async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
    });

    say(&format!("listening {addr}"));
    say(&format!("ready {}", std::process::id()));
    let report = shutdown.run().await;
    eprintln!("{report}");
    report.exit()
}

async fn upload(State(app): State<App>, body: Body) -> Result<String, (StatusCode, String)> {
    if app.slow {
        say("handling");
    }
    let (bytes, stored, checksum) = store(&app.registry, body).await.map_err(|e| {
        let status = if tempreg::is_closed_error(&e) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        (status, format!("{e}\n"))
    })?;
    if stored != bytes {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("received {bytes} bytes but stored {stored}\n"),
        ));
    }
    if app.slow {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(format!("bytes={bytes} fnv1a={checksum:016x}\n"))
}

/// Streams `body` into a registry temp file frame by frame, then reads it
/// back: (bytes received, bytes stored, checksum of what was stored).
async fn store(registry: &ResourceRegistry, mut body: Body) -> io::Result<(u64, u64, u64)> {
    let mut file = registry.temp().prefix("upload-").file_async().await?;
    let mut received = 0u64;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            file.write_all(&data).await?;
        }
    }
    file.flush().await?;
    file.rewind().await?;
    let mut checksum = Fnv1a::new();
    let mut stored = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stored += n as u64;
        checksum.update(&buf[..n]);
    }
    file.close().await?;
    Ok((received, stored, checksum.finish()))
}

/// 64-bit FNV-1a: short, dependency-free, and enough to catch a wrong byte.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn scratch_root() -> PathBuf {
    std::env::var_os("TEMPREG_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Logs to stderr at the levels `RUST_LOG` asks for (errors only without
/// it), in colour only on a terminal and when `NO_COLOR` is unset.
fn init_tracing() {
    let colour =
        io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(io::stderr)
        .with_ansi(colour)
        .init();
}
