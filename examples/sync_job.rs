//! A batch job without an async runtime whose scratch files are removed when
//! SIGTERM, SIGINT, SIGHUP or SIGQUIT ends it, by
//! [`cleanup_on_signals`](tempreg::cleanup_on_signals).
//!
//! ```text
//! cargo run --example sync_job -- [work|released|rearmed|two-registries]
//! kill -TERM <pid>        # the pid is on the `ready <pid>` line
//! ```
//!
//! The job makes temp files and dirs, names their directory on stderr
//! (`scratch files in <dir>`), prints `ready <pid>`, then works (a new
//! scratch file every few milliseconds, appends to a long-lived one) until
//! a signal ends it. The process then dies by that signal, as it would
//! without tempreg, and leaves nothing in the scratch root.
//!
//! Modes:
//!
//! - `work`: as above.
//! - `released`: the [`SignalCleanup`](tempreg::SignalCleanup) is dropped
//!   before `ready`, which gives the signals their default action back: the
//!   signal kills the job at once and its session directory stays behind.
//! - `rearmed`: dropped, then `cleanup_on_signals` again: cleaned up as in
//!   `work`.
//! - `two-registries`: a second registry added with `SignalCleanup::add`;
//!   both are purged.
//!
//! The scratch root is `$TEMPREG_ROOT`, else the system temp directory. The
//! job ends by itself after two minutes.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempreg::{cleanup_on_signals, ResourceRegistry, TempFile};

const MAX_RUN: Duration = Duration::from_secs(120);

fn main() -> io::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "work".into());
    let registry = ResourceRegistry::builder().root(scratch_root()).build()?;
    let mut extra = None;
    let _cleanup = match mode.as_str() {
        "work" => Some(cleanup_on_signals(&registry)?),
        "released" => {
            drop(cleanup_on_signals(&registry)?);
            None
        }
        "rearmed" => {
            drop(cleanup_on_signals(&registry)?);
            Some(cleanup_on_signals(&registry)?)
        }
        "two-registries" => {
            let cleanup = cleanup_on_signals(&registry)?;
            let second = ResourceRegistry::builder()
                .root(registry.root())
                .prefix("second")
                .build()?;
            cleanup.add(&second);
            extra = Some(second);
            Some(cleanup)
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mode {other:?}: use work, released, rearmed or two-registries"),
            ))
        }
    };

    // The job's scratch space: an input directory with files in it, a file of
    // partial results, a path-only temp file and a nested work directory.
    let inputs = registry.temp().prefix("inputs-").dir()?;
    for n in 0..3 {
        std::fs::write(inputs.path().join(format!("part-{n}.csv")), b"a,b\n1,2\n")?;
    }
    let work = registry.temp().prefix("work-").dir()?;
    std::fs::create_dir_all(work.path().join("nested/deeper"))?;
    std::fs::write(work.path().join("nested/deeper/state"), b"step 1")?;
    let mut partial = registry.temp().prefix("partial-").file()?;
    let index = registry.temp().suffix(".idx").file()?.into_temp_path();
    let _more = match &extra {
        Some(second) => Some(second.temp_file()?),
        None => None,
    };

    // Where to watch the scratch files come and go (stderr: stdout is for
    // the parent reading `ready`).
    for registry in std::iter::once(&registry).chain(&extra) {
        eprintln!("scratch files in {}", registry.session_dir().display());
    }
    say(&format!("ready {}", std::process::id()));

    let started = Instant::now();
    let mut batch = 0u64;
    while started.elapsed() < MAX_RUN {
        batch += 1;
        if let Err(e) = one_batch(&registry, &mut partial, batch) {
            if tempreg::is_closed_error(&e) {
                // The signal thread is purging; it ends the process next.
                loop {
                    std::thread::park();
                }
            }
            eprintln!("batch {batch}: {e}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop((inputs, work, index));
    Ok(())
}

/// One unit of work: a short-lived scratch file, and a line of progress.
fn one_batch(registry: &ResourceRegistry, partial: &mut TempFile, batch: u64) -> io::Result<()> {
    let mut chunk = registry.temp().prefix("chunk-").file()?;
    chunk.write_all(&[b'x'; 4096])?;
    chunk.close()?;
    writeln!(partial, "batch {batch} done")
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
