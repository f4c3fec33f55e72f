//! A child process for tempreg's crash-safety tests (`tests/sweep.rs`,
//! `tests/exit_hook.rs`, `tests/anonymous.rs`): it makes scratch files and
//! then ends the way a scenario says, so the test can check what is left.
//!
//! ```text
//! crash_child SCENARIO ROOT
//! ```
//!
//! It builds a registry in `ROOT`, prints `ready <session dir>`, then:
//!
//! - `hold`: makes two named temp files, a temp dir with a file in it, and
//!   three anonymous files (two sync, one async), prints `holding files=N bytes=M` (the
//!   named regular files and their bytes, what a sweep should count) and
//!   sleeps until killed.
//! - `exit`: registers the exit hook, makes the same guards (two named
//!   files, a dir, two anonymous files), prints `exiting files=N bytes=M`
//!   and calls `std::process::exit(0)` with the guards alive.
//! - `exit-no-hook`: the same without the hook (the session must remain).
//! - `return-static`: the registry in a `static`, the hook registered, the
//!   guards forgotten, then a normal return from `main`.
//! - `fork`: registers the hook, makes the guards, forks; the child calls
//!   `std::process::exit(0)` without exec; the parent waits for it, checks
//!   that its files are intact, prints `parent-files-ok` and calls
//!   `std::process::exit(0)` (so its own hook purges).
//! - `fork-drop`: forks a registry with no guards; the child drops its copy
//!   of the registry and exits; the parent checks that its session
//!   directory and lock are intact and usable, and prints
//!   `parent-session-ok` (or `parent-session-damaged: <why>`).
//!
//! Any error ends it with a message on stderr and exit code 2.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use tempreg::{AnonymousFile, ResourceRegistry, TempDir, TempFile, TrackedFile};

/// The bytes written to each anonymous file; a sweep must never count them.
const ANONYMOUS_BYTES: usize = 4096;

fn main() {
    if let Err(e) = run() {
        eprintln!("crash_child: {e}");
        std::process::exit(2);
    }
}

fn run() -> io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: crash_child SCENARIO ROOT",
        )
    };
    let scenario = args
        .next()
        .and_then(|s| s.into_string().ok())
        .ok_or_else(usage)?;
    let root = PathBuf::from(args.next().ok_or_else(usage)?);
    let registry = ResourceRegistry::builder().root(&root).build()?;
    say(&format!("ready {}", registry.session_dir().display()))?;
    match scenario.as_str() {
        "hold" => hold(&registry),
        "exit" => exit_with_guards(&registry, true),
        "exit-no-hook" => exit_with_guards(&registry, false),
        "return-static" => return_static(registry),
        "fork" => fork_then_exit(&registry),
        "fork-drop" => fork_then_drop(registry),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown scenario {other:?}"),
        )),
    }
}

/// Prints one line and flushes it, so the test sees it before anything else
/// happens (a kill, a fork).
fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Named temp files, a temp dir holding a file, and two anonymous files.
struct Guards {
    files: Vec<TempFile>,
    dir: TempDir,
    inner_file: PathBuf,
    anonymous: Vec<AnonymousFile>,
    named_files: u64,
    named_bytes: u64,
}

impl Guards {
    fn make(registry: &ResourceRegistry) -> io::Result<Guards> {
        let mut files = Vec::new();
        let mut named_bytes = 0;
        for content in [&b"hello"[..], &[b'x'; 1000][..]] {
            let mut file = registry.temp_file()?;
            file.write_all(content)?;
            file.flush()?;
            named_bytes += content.len() as u64;
            files.push(file);
        }
        let dir = registry.temp_dir()?;
        let inner_file = dir.path().join("inner.bin");
        std::fs::write(&inner_file, [b'y'; 100])?;
        named_bytes += 100;
        let mut anonymous = Vec::new();
        for _ in 0..2 {
            let mut file = registry.anonymous_file()?;
            file.write_all(&[b'a'; ANONYMOUS_BYTES])?;
            anonymous.push(file);
        }
        Ok(Guards {
            named_files: files.len() as u64 + 1,
            named_bytes,
            files,
            dir,
            inner_file,
            anonymous,
        })
    }

    /// Every named path made, for checks that they still exist.
    fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.files.iter().map(|f| f.path().to_owned()).collect();
        paths.push(self.dir.path().to_owned());
        paths.push(self.inner_file.clone());
        paths
    }

    /// Checks that every file is intact, through the guards and by path.
    fn check(&mut self) -> io::Result<()> {
        for path in self.paths() {
            if std::fs::symlink_metadata(&path).is_err() {
                return Err(io::Error::other(format!("{} is gone", path.display())));
            }
        }
        let mut first = String::new();
        let file = &mut self.files[0];
        file.seek(SeekFrom::Start(0))?;
        file.read_to_string(&mut first)?;
        let mut anonymous = vec![0; ANONYMOUS_BYTES];
        let anon = &mut self.anonymous[0];
        anon.seek(SeekFrom::Start(0))?;
        anon.read_exact(&mut anonymous)?;
        if first != "hello" || anonymous.iter().any(|&b| b != b'a') {
            return Err(io::Error::other("file contents changed"));
        }
        Ok(())
    }
}

fn hold(registry: &ResourceRegistry) -> io::Result<()> {
    let guards = Guards::make(registry)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let async_anonymous: TrackedFile = runtime.block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut file = registry.anonymous_file_async().await?;
        file.write_all(&[b'a'; ANONYMOUS_BYTES]).await?;
        file.flush().await?;
        Ok::<_, io::Error>(file)
    })?;
    say(&format!(
        "holding files={} bytes={}",
        guards.named_files, guards.named_bytes
    ))?;
    let _alive = (guards, async_anonymous, runtime);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn exit_with_guards(registry: &ResourceRegistry, hook: bool) -> io::Result<()> {
    if hook && !registry.purge_on_exit() {
        return Err(io::Error::other(
            "purge_on_exit returned false the first time",
        ));
    }
    let guards = Guards::make(registry)?;
    say(&format!(
        "exiting files={} bytes={}",
        guards.named_files, guards.named_bytes
    ))?;
    // `exit` runs no destructor: the guards and the registry stay alive.
    let _alive = guards;
    std::process::exit(0)
}

fn return_static(registry: ResourceRegistry) -> io::Result<()> {
    static REGISTRY: OnceLock<ResourceRegistry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(|| registry);
    if !registry.purge_on_exit() {
        return Err(io::Error::other(
            "purge_on_exit returned false the first time",
        ));
    }
    std::mem::forget(Guards::make(registry)?);
    say("returning")
}

fn fork_then_exit(registry: &ResourceRegistry) -> io::Result<()> {
    if !registry.purge_on_exit() {
        return Err(io::Error::other(
            "purge_on_exit returned false the first time",
        ));
    }
    let mut guards = Guards::make(registry)?;
    let child = fork()?;
    if child == 0 {
        // Without exec: the inherited hook must leave the parent's files.
        std::process::exit(0);
    }
    wait_child(child)?;
    guards.check()?;
    // The registry itself must still be usable.
    let extra = registry.temp_file()?;
    say("parent-files-ok")?;
    let _alive = (guards, extra);
    std::process::exit(0)
}

fn fork_then_drop(registry: ResourceRegistry) -> io::Result<()> {
    let session = registry.session_dir().to_owned();
    let child = fork()?;
    if child == 0 {
        // The child's copy of the registry ends here, as if its `main`
        // returned: the process-wide removal of the session must not run.
        drop(registry);
        std::process::exit(0);
    }
    wait_child(child)?;
    match session_intact(&registry, &session) {
        Ok(()) => say("parent-session-ok"),
        Err(why) => say(&format!("parent-session-damaged: {why}")),
    }
}

fn session_intact(registry: &ResourceRegistry, session: &Path) -> io::Result<()> {
    std::fs::symlink_metadata(session.join(tempreg::LOCK_NAME))?;
    let mut file = registry.temp_file()?;
    file.write_all(b"still usable")?;
    Ok(())
}

/// `fork()`, returning 0 in the child and the child's pid in the parent.
fn fork() -> io::Result<libc::pid_t> {
    io::stdout().flush()?;
    // SAFETY: this process has one thread here (no runtime was started), so
    // the child may run any code; it only calls `exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Waits for the forked child and checks that it exited with 0.
fn wait_child(pid: libc::pid_t) -> io::Result<()> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call's duration.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "forked child ended with wait status {status:#x}"
        )))
    }
}
