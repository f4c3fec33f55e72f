//! A tokio service that stops in order on SIGTERM or SIGINT.
//!
//! ```text
//! cargo run --example shutdown_service -- [MODE] [--current-thread | --workers N]
//! kill -TERM <pid>        # the pid is on the `ready <pid>` line
//! ```
//!
//! Tracked workers write to scratch files from a [`ResourceRegistry`] until
//! shutdown begins; then the workers stop, the cleanup steps run (the
//! registry's purge among them), the report goes to stderr, and
//! [`ShutdownReport::exit`](tempreg::ShutdownReport::exit) ends the process
//! by the same signal, so its parent sees "killed by SIGTERM".
//!
//! Modes:
//!
//! - `normal`: the workers stop when the token is cancelled.
//! - `stubborn`: one more task ignores the token; with a 1 s grace period it
//!   is aborted, and the report says so.
//! - `steps`: cleanup steps `A`, `B`, `C` print `step <name>` as they run
//!   (in reverse order: C, B, A); B fails and C panics (its panic message
//!   goes to stderr), and the others run anyway.
//! - `hang`: a cleanup step prints `step hang started: …` and never ends,
//!   and its limit is long; a second SIGINT or SIGTERM forces the end
//!   (purge, then death by that signal).
//! - `crowded`: as `normal`, with 20,000 files that something else wrote
//!   straight into the session directory: untracked, they go only when the
//!   session directory is removed, in `exit()`, which then takes a while.
//! - `blocked`: one more task, once cancelled, prints `blocking …` and
//!   blocks its worker thread (a blocking call in async code); with a 2 s
//!   grace period. On one worker or a current-thread runtime nothing async
//!   can run any more: the watchdog's thread names the task, purges, and
//!   ends the process by the signal within the grace period plus one
//!   second.
//! - `finish`, `finish-unclean`: no signal needed; the service stops itself
//!   with [`Shutdown::trigger`] once ready and exits with status 0, or 1
//!   when (as in `finish-unclean`) a cleanup step fails.
//!
//! The last line says how it ended. After the report, stdout gets
//! `exiting: by SIGTERM` (the signal that began the shutdown), or
//! `exiting: status 0` or `exiting: status 1` when the service stopped
//! itself. Two endings cut the shutdown short, with no report and no
//! `exiting` line; tempreg then says on stderr how it ended:
//!
//! - a second signal (`hang`): `tempreg: second SIGINT during shutdown:
//!   purged N temp path(s), ending now`;
//! - the watchdog (`blocked` on one thread): `tempreg: the shutdown's grace
//!   period (2s) ran out; tasks still running: …; purging and ending now`.
//!
//! The runtime is tokio's multi-thread one (one worker per core), or with
//! `--workers N` N workers, or with `--current-thread` the current-thread
//! one.
//!
//! The scratch root is `$TEMPREG_ROOT`, else the system temp directory.
//! Set `RUST_LOG=tempreg=info` to watch the shutdown.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use tempreg::{ResourceRegistry, Shutdown};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WORKERS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Stubborn,
    Steps,
    Hang,
    Crowded,
    Blocked,
    Finish { unclean: bool },
}

impl Mode {
    fn from_args() -> io::Result<Mode> {
        match std::env::args().nth(1).as_deref() {
            None | Some("normal") => Ok(Mode::Normal),
            Some("stubborn") => Ok(Mode::Stubborn),
            Some("steps") => Ok(Mode::Steps),
            Some("hang") => Ok(Mode::Hang),
            Some("crowded") => Ok(Mode::Crowded),
            Some("blocked") => Ok(Mode::Blocked),
            Some("finish") => Ok(Mode::Finish { unclean: false }),
            Some("finish-unclean") => Ok(Mode::Finish { unclean: true }),
            Some(other) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mode {other:?}: see the example's docs"),
            )),
        }
    }
}

/// The runtime the flags after the mode ask for.
fn runtime() -> io::Result<tokio::runtime::Runtime> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let mut builder = match args.first().map(String::as_str) {
        Some("--current-thread") => tokio::runtime::Builder::new_current_thread(),
        Some("--workers") => {
            let n = args.get(1).and_then(|n| n.parse().ok()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "--workers takes a number")
            })?;
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
        Some(other) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown flag {other:?}: see the example's docs"),
            ))
        }
    };
    builder.enable_all().build()
}

fn main() -> io::Result<()> {
    init_tracing();
    let mode = Mode::from_args()?;
    runtime()?.block_on(serve(mode))
}

async fn serve(mode: Mode) -> io::Result<()> {
    let registry = ResourceRegistry::builder().root(scratch_root()).build()?;
    let shutdown = match mode {
        Mode::Stubborn => Shutdown::builder()
            .grace_period(Duration::from_secs(1))
            .cleanup_reserve(Duration::from_millis(300))
            .build(),
        Mode::Hang => Shutdown::builder()
            .grace_period(Duration::from_secs(300))
            .cleanup_reserve(Duration::from_secs(290))
            .step_timeout(Duration::from_secs(300))
            .build(),
        Mode::Blocked => Shutdown::builder()
            .grace_period(Duration::from_secs(2))
            .cleanup_reserve(Duration::from_millis(500))
            .build(),
        Mode::Normal | Mode::Steps | Mode::Crowded | Mode::Finish { .. } => Shutdown::builder()
            .grace_period(Duration::from_secs(10))
            .cleanup_reserve(Duration::from_secs(3))
            .build(),
    };
    shutdown.listen_for_signals()?;
    // Registered first, so it runs last: the steps below may still use files.
    shutdown.add_registry(&registry);

    // A spool directory the purge removes, with whatever was written into it.
    let spool = registry.temp().prefix("spool-").dir()?;
    std::fs::write(spool.path().join("batch-0001.json"), b"{\"rows\":[]}\n")?;

    let (started, mut ready) = mpsc::channel(WORKERS);
    for id in 0..WORKERS {
        let registry = registry.clone();
        let token = shutdown.token();
        let started = started.clone();
        shutdown.spawn_fallible(&format!("worker-{id}"), async move {
            worker(id, registry, token, started).await
        });
    }
    drop(started);
    for _ in 0..WORKERS {
        if ready.recv().await.is_none() {
            // A worker failed before it was ready; its error is in the report.
            shutdown.trigger();
            break;
        }
    }

    match mode {
        Mode::Normal => {}
        Mode::Crowded => {
            for n in 0..20_000 {
                std::fs::write(registry.session_dir().join(format!("untracked-{n}")), b"")?;
            }
        }
        Mode::Blocked => {
            let token = shutdown.token();
            shutdown.spawn("blocker", async move {
                token.cancelled().await;
                say("blocking this worker thread for ten minutes");
                // A blocking call in async code: this worker thread is gone.
                std::thread::sleep(Duration::from_secs(600));
            });
        }
        Mode::Stubborn => {
            shutdown.spawn("stubborn", async {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
        Mode::Steps => {
            shutdown.on_cleanup("A", || async {
                say("step A");
                Ok::<(), io::Error>(())
            });
            shutdown.on_cleanup("B", || async {
                say("step B");
                Err(io::Error::other("B could not flush its queue"))
            });
            shutdown.on_cleanup("C", step_c);
        }
        Mode::Hang => {
            shutdown.on_cleanup("hang", || async {
                say("step hang started: it never ends; a second signal ends the process now");
                std::future::pending::<()>().await;
                Ok::<(), io::Error>(())
            });
        }
        Mode::Finish { unclean } => {
            shutdown.on_cleanup("report upstream", move || async move {
                if unclean {
                    Err(io::Error::other("upstream unreachable"))
                } else {
                    Ok(())
                }
            });
        }
    }

    say(&format!("ready {}", std::process::id()));
    if let Mode::Finish { .. } = mode {
        shutdown.trigger();
    }
    let report = shutdown.run().await;
    eprintln!("{report}");
    drop(spool);
    // How `exit()` is about to end the process.
    match report.reason().signal() {
        Some(_) => say(&format!("exiting: by {}", report.reason())),
        None => say(&format!("exiting: status {}", report.exit_code())),
    }
    report.exit()
}

/// Writes to a sync and an async scratch file until the token is cancelled.
async fn worker(
    id: usize,
    registry: ResourceRegistry,
    token: CancellationToken,
    started: mpsc::Sender<()>,
) -> io::Result<()> {
    let mut partial = registry.temp().prefix(format!("partial-{id}-")).file()?;
    partial.write_all(b"partial results\n")?;
    let mut log = registry.temp_file_async().await?;
    let _ = started.send(()).await;
    let mut tick = 0u64;
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                tick += 1;
                log.write_all(format!("worker {id} tick {tick}\n").as_bytes()).await?;
            }
        }
    }
    log.close().await?;
    partial.close()
}

async fn step_c() -> io::Result<()> {
    say("step C");
    panic!("C panicked on purpose");
}

/// Prints a line to stdout now, for the parent reading it.
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
