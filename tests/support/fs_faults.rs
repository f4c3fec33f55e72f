//! Set-ups a machine may refuse, for the tests of file-system failures: a
//! small tmpfs (to fill up, or to sit inside a tree being removed), a bind
//! mount, and `chattr +i` (to refuse every change), each undone on drop,
//! and [`or_skip`] for a test to say it skipped.
//!
//! `mount`, `umount` and `chattr` are short-lived system tools, run to
//! their end with a plain `.output()` / `.status()`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The value of a set-up the machine may refuse (no privilege, no tmpfs, no
/// `chattr +i`), or `None` after printing `skipped: <why>`, for the test to
/// return.
pub fn or_skip<T>(setup: Result<T, String>) -> Option<T> {
    match setup {
        Ok(value) => Some(value),
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// Runs `cmd` (the `tool`); the error says why it failed, `<refused>
/// refused: <its stderr>` if it ran, for a skip message.
fn run_tool(cmd: &mut Command, tool: &str, refused: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{refused} refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A file system mounted for one test; unmounted when dropped.
pub struct Mount {
    pub dir: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (`mount -o size=`) on `dir`; the error says
    /// why it was refused (no privilege, no tmpfs), for a skip message.
    pub fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        if cfg!(windows) {
            return Err("no tmpfs on Windows".into());
        }
        run_tool(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir),
            "mount",
            "mount -t tmpfs",
        )?;
        Ok(Mount {
            dir: dir.to_path_buf(),
        })
    }

    /// Bind-mounts `source` on `dir` (the same file system seen twice: same
    /// device number, another mount); the error says why it was refused.
    pub fn bind(source: &Path, dir: &Path) -> Result<Mount, String> {
        if cfg!(windows) {
            return Err("no bind mounts on Windows".into());
        }
        run_tool(
            Command::new("mount").arg("--bind").arg(source).arg(dir),
            "mount",
            "mount --bind",
        )?;
        Ok(Mount {
            dir: dir.to_path_buf(),
        })
    }

    /// Unmounts now (dropping does it too), and says whether it worked.
    pub fn unmount(self) -> bool {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            std::mem::forget(self);
        }
        ok
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// `chattr +i` on a file or directory: nothing (not even root) can change,
/// unlink or rename it, or add a name to it; undone when dropped.
pub struct Immutable(PathBuf);

impl Immutable {
    /// Sets the flag; the error says why it was refused, for a skip message.
    pub fn set(dir: &Path) -> Result<Immutable, String> {
        if cfg!(windows) {
            return Err("no chattr +i on Windows".into());
        }
        run_tool(
            Command::new("chattr").arg("+i").arg(dir),
            "chattr",
            "chattr +i",
        )?;
        Ok(Immutable(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}
