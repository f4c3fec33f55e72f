//! Another user for the tests of shared roots: commands run as [`NOBODY`]
//! through `setpriv` (which drops every privilege before it execs), a root
//! anyone may write to, like `/tmp`, and the crash-safety fixture run as
//! that user.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::child::{example, Running, RUN_TIMEOUT};
use super::crash::{start_crash_child_with, CrashChild, Held, LINE_TIMEOUT};
use super::plants::NOBODY;

/// `setpriv` with the arguments that make what follows run as uid and gid
/// [`NOBODY`], with no supplementary groups.
pub fn as_nobody(program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program);
    cmd
}

/// `Ok` if this machine lets us run `program` as [`NOBODY`]: `setpriv` is
/// there and allowed, and every directory on the way to `program` is
/// searchable by others; the error says why not, for
/// [`or_skip`](super::or_skip).
pub fn can_run_as_nobody(program: &Path) -> Result<(), String> {
    reachable_by_others(program)?;
    let output = Running::start(as_nobody(Path::new("true")), "setpriv true").output(RUN_TIMEOUT);
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "setpriv cannot run a command as uid {NOBODY} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `Ok` if others may search every directory above `path`.
fn reachable_by_others(path: &Path) -> Result<(), String> {
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let mode = std::fs::metadata(dir)
            .map_err(|e| format!("cannot stat {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!(
                "uid {NOBODY} cannot reach {}: {} is mode {:o}",
                path.display(),
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
}

/// A fresh root under the system temp dir that anyone may make sessions in
/// and no one may remove others' from: mode 1777, like `/tmp`.
pub fn shared_root() -> Result<tempfile::TempDir, String> {
    let root = super::files::scratch_root();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod 1777 the shared root");
    reachable_by_others(&root.path().join("x"))?;
    Ok(root)
}

/// Starts a `hold` child as [`NOBODY`] in `root`, waits until it holds its
/// files, and kills it with SIGKILL: an orphan of that user.
pub fn dead_hold_child_as_nobody(root: &Path) -> (CrashChild, Held) {
    let mut cmd = as_nobody(&example("crash_child"));
    cmd.arg("hold").arg(root);
    let mut child = start_crash_child_with(cmd, "crash_child hold as nobody", root);
    let line = child.process.wait_for_line("holding ", LINE_TIMEOUT);
    let held = super::crash::parse_held(&line);
    child.process.kill_hard();
    (child, held)
}
