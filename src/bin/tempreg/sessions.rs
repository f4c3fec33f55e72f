//! `tempreg sweep` and `tempreg ls`: the library's judgement of each session
//! (by its lock), shown to people (human sizes and ages) or to scripts
//! (`ls --json`, exact numbers).

use std::fmt::Write as _;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::Duration;

use indicatif::{HumanBytes, HumanDuration};
use tempreg::{SessionInfo, SessionState, SweepOptions};

use crate::{print_out, reason, root_reason, say, Exit, EXIT_SOME_FAILED, EXIT_TROUBLE};

pub(crate) fn sweep(root: &Path, dry_run: bool, verbose: bool) -> Exit {
    let mut options = SweepOptions::new().dry_run(dry_run);
    let bar = io::stderr().is_terminal().then(|| {
        let sessions = tempreg::list_sessions(root).map_or(0, |s| s.len());
        let bar = indicatif::ProgressBar::new(sessions as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sweeping {pos}/{len} sessions {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    if let Some(bar) = &bar {
        let tick = bar.clone();
        options = options.on_progress(move |info| {
            tick.inc(1);
            tick.set_message(info.path().display().to_string());
        });
    }
    let result = tempreg::sweep_orphans_with(root, &options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            say!("sweep {}: {}", root.display(), root_reason(root, &e));
            return Exit::Code(EXIT_TROUBLE);
        }
    };

    let (remove, leave) = if dry_run {
        ("would remove", "would leave")
    } else {
        ("removed", "left")
    };
    let mut text = String::new();
    if dry_run || verbose {
        for session in report.removed() {
            let _ = writeln!(text, "{remove} {}", describe(session));
        }
    }
    if verbose {
        for session in report
            .live()
            .iter()
            .chain(report.kept())
            .chain(report.other_users())
        {
            let _ = writeln!(text, "{leave} {}", describe(session));
        }
    }
    let _ = write!(
        text,
        "{remove} {} orphaned session(s) ({} file(s), {}); left {} live session(s) alone",
        report.removed().len(),
        report.files_freed(),
        HumanBytes(report.bytes_freed()),
        report.live().len()
    );
    if !report.kept().is_empty() {
        let _ = write!(text, ", {} kept", report.kept().len());
    }
    if !report.other_users().is_empty() {
        let _ = write!(text, ", {} of other users", report.other_users().len());
    }
    text.push('\n');
    let printed = print_out(&text);
    for (path, e) in report.failures() {
        say!(
            "sweep {}: cannot remove {}: {}",
            root.display(),
            path.display(),
            reason(e)
        );
    }
    if let Err(e) = printed {
        say!(
            "sweep {}: cannot write the report: {}",
            root.display(),
            reason(&e)
        );
        return Exit::Code(EXIT_TROUBLE);
    }
    Exit::Code(if report.is_clean() {
        0
    } else {
        EXIT_SOME_FAILED
    })
}

/// `PATH: STATE, pid N, AGE old, F file(s), SIZE`, for one line of a sweep.
fn describe(session: &SessionInfo) -> String {
    let path = session.path().display();
    if session.state() == SessionState::OtherUser {
        return format!("{path}: {}", session.state());
    }
    format!(
        "{path}: {}, pid {}, {}, {} file(s), {}",
        session.state(),
        session
            .pid()
            .map_or_else(|| "?".to_string(), |p| p.to_string()),
        session.age().map_or_else(
            || "age unknown".to_string(),
            |a| format!("{} old", HumanDuration(a))
        ),
        session.files(),
        HumanBytes(session.bytes())
    )
}

pub(crate) fn ls(root: &Path, json: bool, verbose: bool) -> Exit {
    let sessions = match tempreg::list_sessions(root) {
        Ok(sessions) => sessions,
        Err(e) => {
            say!("ls {}: {}", root.display(), root_reason(root, &e));
            return Exit::Code(EXIT_TROUBLE);
        }
    };
    let text = if json {
        ls_json(&sessions)
    } else {
        ls_table(&sessions, verbose)
    };
    match print_out(&text) {
        Ok(()) => Exit::Code(0),
        Err(e) => {
            say!(
                "ls {}: cannot write the list: {}",
                root.display(),
                reason(&e)
            );
            Exit::Code(EXIT_TROUBLE)
        }
    }
}

fn ls_json(sessions: &[SessionInfo]) -> String {
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
    format!("{}\n", serde_json::Value::Array(list))
}

fn ls_table(sessions: &[SessionInfo], verbose: bool) -> String {
    let mut text = String::new();
    let exact = |bytes: &str| {
        if verbose {
            format!(" {bytes:>14}")
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        text,
        "{:<8} {:<10} {:<11} {:>7} {:>11}{}  PATH",
        "PID",
        "STATE",
        "AGE",
        "FILES",
        "SIZE",
        exact("BYTES")
    );
    for s in sessions {
        // Another user's session is not opened: its files are unknown.
        let measured = s.state() != SessionState::OtherUser;
        let unknown = || "?".to_string();
        let _ = writeln!(
            text,
            "{:<8} {:<10} {:<11} {:>7} {:>11}{}  {}",
            s.pid().map_or_else(unknown, |p| p.to_string()),
            s.state().to_string(),
            s.age()
                .map_or_else(unknown, |a| HumanDuration(a).to_string()),
            if measured {
                s.files().to_string()
            } else {
                unknown()
            },
            if measured {
                HumanBytes(s.bytes()).to_string()
            } else {
                unknown()
            },
            exact(&if measured {
                s.bytes().to_string()
            } else {
                unknown()
            }),
            s.path().display()
        );
    }
    if verbose {
        let count = |state: SessionState| sessions.iter().filter(|s| s.state() == state).count();
        let files: u64 = sessions.iter().map(SessionInfo::files).sum();
        let bytes: u64 = sessions.iter().map(SessionInfo::bytes).sum();
        let _ = writeln!(
            text,
            "{} session(s): {} live, {} orphaned, {} kept, {} of other users; {} file(s), {} ({bytes} bytes)",
            sessions.len(),
            count(SessionState::Live),
            count(SessionState::Orphaned),
            count(SessionState::Kept),
            count(SessionState::OtherUser),
            files,
            HumanBytes(bytes)
        );
    }
    text
}
