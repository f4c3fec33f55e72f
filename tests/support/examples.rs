//! The user examples (`shutdown_service`, `sync_job`, `sqlite_pool`,
//! `axum_uploads`) as child processes for the shutdown tests: run one in its
//! own scratch root and working directory, and check what it left in its
//! session directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::child::{example, Running};
use super::files::tree;

/// How long a signalled example with nothing slow to do may take to end.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable the examples take their scratch root from.
pub const ROOT_ENV: &str = "TEMPREG_ROOT";

/// The command for example `name` with `args`, its scratch root set to
/// `root` and its working directory `cwd` (where a SIGQUIT core would land).
pub fn example_command(name: &'static str, args: &[&str], root: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(example(name));
    cmd.args(args).env(ROOT_ENV, root).current_dir(cwd);
    cmd
}

/// Starts example `name` in `mode`, in the scratch root and working
/// directory of `dirs`, and waits for its `ready <pid>` line.
pub fn start_example(name: &'static str, mode: &str, dirs: &Dirs) -> Running {
    Running::start_ready(
        example_command(name, &[mode], dirs.root(), dirs.cwd()),
        &format!("{name} {mode}"),
    )
}

/// The `RUST_LOG` the log tests run an example with: tempreg's own events,
/// INFO and up.
pub const LOG_FILTER: &str = "tempreg=info";

/// The command for example `name` with `args`, as [`example_command`]
/// makes it, logging with [`LOG_FILTER`] (`NO_COLOR` unset, so that colour
/// is left to the example's own check for a terminal).
pub fn logging_example_command(
    name: &'static str,
    args: &[&str],
    root: &Path,
    cwd: &Path,
) -> Command {
    let mut cmd = example_command(name, args, root, cwd);
    cmd.env("RUST_LOG", LOG_FILTER).env_remove("NO_COLOR");
    cmd
}

/// Asserts that `child`, run by [`logging_example_command`] with its
/// stderr on a pipe, logged tempreg's events there as plain text: INFO
/// lines from `tempreg::…`, and no ANSI escape sequence.
pub fn assert_plain_logs(child: &Running) {
    let stderr = child.stderr_text();
    assert!(
        !stderr.contains('\x1b'),
        "stderr is a pipe, not a terminal: it should hold no ANSI escape (\\x1b[…)\n{}",
        child.describe()
    );
    assert!(
        stderr.lines().any(|l| l.contains(" INFO tempreg::")),
        "RUST_LOG={LOG_FILTER} should have logged tempreg's INFO events on stderr\n{}",
        child.describe()
    );
}

/// Asserts that `root` exists and holds nothing (no session directory left).
pub fn assert_root_empty(root: &Path, context: &dyn std::fmt::Display) {
    assert!(root.is_dir(), "{} should still exist", root.display());
    let left = tree(root);
    assert!(
        left.is_empty(),
        "scratch root {} should be empty, but holds {} path(s), among them {:?}\n{context}",
        root.display(),
        left.len(),
        &left[..left.len().min(10)]
    );
}

/// The session directories in `root` (the examples make exactly one each
/// unless told otherwise).
pub fn session_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The entries of the only session directory in `root`, besides its lock.
pub fn session_entries(root: &Path) -> Vec<PathBuf> {
    let sessions = session_dirs(root);
    assert_eq!(
        sessions.len(),
        1,
        "expected one session directory in {}, found {sessions:?}",
        root.display()
    );
    tree(&sessions[0])
        .into_iter()
        .filter(|p| p != Path::new(tempreg::LOCK_NAME))
        .collect()
}

/// How many top-level entries of the only session directory in `root` have
/// a name starting with `prefix`.
pub fn count_in_session(root: &Path, prefix: &str) -> usize {
    session_entries(root)
        .iter()
        .filter(|p| p.components().count() == 1)
        .filter(|p| p.to_string_lossy().starts_with(prefix))
        .count()
}

/// Asserts that the session directory in `root` holds at least `n` entries
/// named `<prefix>…` for each `(prefix, n)`. At least: the registry may keep
/// files of its own there (pre-created temp files, say).
pub fn assert_session_holds(root: &Path, expected: &[(&str, usize)]) {
    for &(prefix, n) in expected {
        let found = count_in_session(root, prefix);
        assert!(
            found >= n,
            "expected at least {n} entr(ies) named {prefix}… in the session, found {found}: {:?}",
            session_entries(root)
        );
    }
}

/// A fresh scratch root and a separate working directory for one child.
pub struct Dirs {
    pub root: tempfile::TempDir,
    pub cwd: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        Dirs {
            root: tempfile::tempdir().expect("scratch root"),
            cwd: tempfile::tempdir().expect("working directory"),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn cwd(&self) -> &Path {
        self.cwd.path()
    }
}
