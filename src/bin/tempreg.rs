//! `tempreg`: run a command with guaranteed scratch cleanup, sweep what dead
//! processes left, and list session directories.
//!
//! ```text
//! tempreg run [--root DIR] [--keep-on-failure] -- CMD [ARGS...]
//! tempreg sweep [ROOT] [--dry-run]
//! tempreg ls [ROOT] [--json]
//! ```

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Duration;

use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;

#[derive(Parser, Debug)]
#[command(
    name = "tempreg",
    version,
    about = "Scratch space that is cleaned up however a program ends",
    long_about = "Scratch space that is cleaned up however a program ends.\n\n\
        `tempreg run -- CMD` gives CMD a private TMPDIR and removes it when CMD ends, \
        whatever CMD is written in. `tempreg sweep` removes what processes killed \
        with SIGKILL left behind, deciding by a lock, never by a guess."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run CMD with TMPDIR (and TEMPREG_SESSION_DIR) pointing into a fresh
    /// session directory, forward SIGTERM/SIGINT/SIGHUP to it, then remove
    /// the directory and exit with CMD's status.
    Run {
        /// Where to make the session directory [default: $TMPDIR or /tmp]
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Keep the session directory if CMD fails, and print its path.
        #[arg(long)]
        keep_on_failure: bool,
        /// The command and its arguments.
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
    },
    /// Remove session directories whose owner is dead (its lock is free).
    Sweep {
        /// The directory to sweep [default: $TMPDIR or /tmp]
        root: Option<PathBuf>,
        /// Say what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List session directories: owner, live or orphaned, age, files, bytes.
    Ls {
        /// The directory to list [default: $TMPDIR or /tmp]
        root: Option<PathBuf>,
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run {
            root,
            keep_on_failure,
            command,
        } => run(root_or_default(root), keep_on_failure, &command),
        Cmd::Sweep { root, dry_run } => sweep(&root_or_default(root), dry_run),
        Cmd::Ls { root, json } => ls(&root_or_default(root), json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tempreg: {e}");
            ExitCode::from(2)
        }
    }
}

fn root_or_default(root: Option<PathBuf>) -> PathBuf {
    root.unwrap_or_else(std::env::temp_dir)
}

/// The exit code a shell would show for a child's status.
fn shell_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        (None, None) => 1,
    }
}

fn run(
    root: PathBuf,
    keep_on_failure: bool,
    command: &[std::ffi::OsString],
) -> io::Result<ExitCode> {
    let registry = tempreg::ResourceRegistry::builder().root(&root).build()?;
    let (program, args) = command.split_first().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "no command given after `--`")
    })?;

    // Installed before the spawn, so no signal is missed in between.
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGTERM, SIGINT, SIGHUP])?;
    let signal_handle = signals.handle();

    let mut cmd = Command::new(program);
    cmd.args(args);
    let mut child = match registry.spawn_in_session(&mut cmd) {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "tempreg: cannot run `{}`: {e}",
                Path::new(program).display()
            );
            // What a shell answers: 127 not found, 126 found but not runnable.
            let code = if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(ExitCode::from(code));
        }
    };
    let pid = rustix::process::Pid::from_child(&child);

    let forwarder = std::thread::spawn(move || {
        for origin in signals.forever() {
            // A terminal's Ctrl+C (sent by the kernel) already reached the
            // child, which shares our process group: sending it again would
            // look like a second Ctrl+C.
            if origin.cause == Cause::Kernel {
                continue;
            }
            if let Some(sig) = rustix::process::Signal::from_named_raw(origin.signal) {
                let _ = rustix::process::kill_process(pid, sig);
            }
        }
    });

    let status = child.wait();
    signal_handle.close();
    let _ = forwarder.join();
    let status = status?;
    let code = shell_code(status);

    if !status.success() && keep_on_failure {
        let kept = registry.keep_session_dir()?;
        eprintln!(
            "tempreg: command failed ({status}); kept {}",
            kept.display()
        );
    } else {
        let session = registry.session_dir().to_path_buf();
        drop(registry);
        if session.exists() {
            eprintln!("tempreg: could not remove {}", session.display());
            return Ok(ExitCode::from(if code == 0 { 1 } else { code }));
        }
    }
    Ok(ExitCode::from(code))
}

fn sweep(root: &Path, dry_run: bool) -> io::Result<ExitCode> {
    let mut options = tempreg::SweepOptions::new().dry_run(dry_run);
    let bar = if io::stderr().is_terminal() {
        let sessions = tempreg::list_sessions(root).map(|s| s.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(sessions as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sweeping {pos}/{len} sessions {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let tick = bar.clone();
        options = options.on_progress(move |info| {
            tick.inc(1);
            tick.set_message(info.path().display().to_string());
        });
        Some(bar)
    } else {
        None
    };
    let report = tempreg::sweep_orphans_with(root, &options)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let verb = if report.is_dry_run() {
        "would remove"
    } else {
        "removed"
    };
    let others = match report.other_users().len() {
        0 => String::new(),
        n => format!(", {n} of other users"),
    };
    println!(
        "{verb} {} orphaned session(s) ({} file(s), {}); left {} live session(s) alone{others}",
        report.removed().len(),
        report.files_freed(),
        indicatif::HumanBytes(report.bytes_freed()),
        report.live().len()
    );
    for (path, e) in report.failures() {
        println!("  failed: `{}`: {e}", path.display());
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn ls(root: &Path, json: bool) -> io::Result<ExitCode> {
    let sessions = tempreg::list_sessions(root)?;
    let mut out = io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> = sessions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "path": s.path().to_string_lossy(),
                    "pid": s.pid(),
                    "state": s.state().to_string(),
                    "age_secs": s.age().map(|a| a.as_secs()),
                    "files": s.files(),
                    "bytes": s.bytes(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(list))?;
    } else {
        writeln!(
            out,
            "{:<8} {:<9} {:>8} {:>7} {:>10}  PATH",
            "PID", "STATE", "AGE", "FILES", "BYTES"
        )?;
        for s in &sessions {
            writeln!(
                out,
                "{:<8} {:<9} {:>8} {:>7} {:>10}  {}",
                s.pid().map_or("?".to_string(), |p| p.to_string()),
                s.state().to_string(),
                s.age().map_or("?".to_string(), human_age),
                s.files(),
                s.bytes(),
                s.path().display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}
