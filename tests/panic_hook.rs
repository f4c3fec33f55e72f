//! The panic hook, exercised in child processes (a panic hook is
//! process-wide): it purges when a panic ends the process, leaves files alone
//! when a worker thread or task panics and the process goes on, purges on
//! every panic with `PanicPolicy::Always`, and still calls the previous hook.
//!
//! libtest runs every test on a thread of its own, never on the main thread.
//! The main-thread scenarios therefore run from an `.init_array` constructor,
//! on the real main thread before libtest starts, and end the way Rust's
//! runtime ends a `main` that panicked: the panic is caught at the outermost
//! frame and the process exits with status 101.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::{assert_empty_dir, describe, names_in, registry_in, run_child};
use tempfile::TempDir;
use tempreg::{PanicPolicy, ResourceRegistry};
use tokio::io::AsyncWriteExt;

const CHILD_TEST: &str = "child_process_entry";
const CALLER_LOG: &[u8] = b"caller data written before the panic";

/// Runs `scenario` in a child with a fresh root and auxiliary directory;
/// returns them, the child's output and its description.
fn run_scenario(scenario: &str) -> (TempDir, TempDir, Output, String) {
    let root = tempfile::tempdir().unwrap();
    let aux = tempfile::tempdir().unwrap();
    let output = run_child(CHILD_TEST, scenario, root.path(), aux.path());
    let shown = describe(&output);
    (root, aux, output, shown)
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_main_thread_panic_purges_and_removes_every_session() {
    let (root, aux, output, shown) = run_scenario("main-thread-panic");
    assert_eq!(output.status.code(), Some(101), "{shown}");
    assert!(stderr_of(&output).contains("main thread boom"), "{shown}");
    assert!(
        stdout_of(&output).contains("child: about to panic"),
        "{shown}"
    );
    // Nothing was dropped in the child: only the hook can have cleaned up.
    assert_empty_dir(root.path());
    assert_eq!(
        std::fs::read(aux.path().join("caller.log")).unwrap(),
        CALLER_LOG,
        "a caller's file is flushed and kept"
    );
}

#[test]
fn without_the_hook_a_main_thread_panic_leaves_the_sessions_behind() {
    // The control for the test above: the same child, no hook installed.
    let (root, _aux, output, shown) = run_scenario("main-thread-panic-no-hook");
    assert_eq!(output.status.code(), Some(101), "{shown}");
    let sessions = names_in(root.path());
    assert_eq!(sessions.len(), 2, "{sessions:?}\n{shown}");
    let first = root.path().join(&sessions[0]);
    assert!(first.join(tempreg::LOCK_NAME).exists());
    assert!(names_in(&first).len() > 1, "its temp files are still there");
}

#[test]
fn a_worker_thread_panic_leaves_live_files_alone() {
    let (root, _aux, output, shown) = run_scenario("worker-thread-panic");
    assert!(output.status.success(), "{shown}");
    assert!(stdout_of(&output).contains("child: alive"), "{shown}");
    assert!(stderr_of(&output).contains("worker boom"), "{shown}");
    assert_empty_dir(root.path());
}

#[test]
fn a_panicking_tokio_task_does_not_purge() {
    let (root, _aux, output, shown) = run_scenario("tokio-task-panic");
    assert!(output.status.success(), "{shown}");
    assert!(stdout_of(&output).contains("child: alive"), "{shown}");
    assert!(stderr_of(&output).contains("task boom"), "{shown}");
    assert_empty_dir(root.path());
}

#[test]
fn policy_always_purges_on_a_worker_panic_but_keeps_the_session() {
    let (root, aux, output, shown) = run_scenario("always-policy");
    assert!(output.status.success(), "{shown}");
    assert!(
        stdout_of(&output).contains("child: purged, session kept"),
        "{shown}"
    );
    assert_empty_dir(root.path());
    assert_eq!(
        std::fs::read(aux.path().join("caller.log")).unwrap(),
        CALLER_LOG
    );
}

#[test]
fn the_previous_hook_still_runs_after_the_purge() {
    let (root, _aux, output, shown) = run_scenario("previous-hook");
    assert!(output.status.success(), "{shown}");
    assert!(
        stderr_of(&output).contains("PREVIOUS HOOK RAN: watched file gone = true"),
        "{shown}"
    );
    assert_empty_dir(root.path());
}

#[test]
fn the_hook_does_not_keep_a_dropped_registry_alive() {
    let (root, _aux, output, shown) = run_scenario("weak-registry");
    assert!(output.status.success(), "{shown}");
    assert!(stdout_of(&output).contains("child: alive"), "{shown}");
    assert_empty_dir(root.path());
}

/// Runs a scenario in a re-executed test binary; returns at once otherwise.
#[test]
fn child_process_entry() {
    let Some((scenario, root)) = support::child_scenario() else {
        return;
    };
    let aux = support::child_aux();
    match scenario.as_str() {
        "worker-thread-panic" => child_worker_thread_panic(&root),
        "tokio-task-panic" => child_tokio_task_panic(&root),
        "always-policy" => child_always_policy(&root, &aux),
        "previous-hook" => child_previous_hook(&root),
        "weak-registry" => child_weak_registry(&root),
        other => panic!("unknown scenario {other}"),
    }
}

/// Runs the main-thread scenarios on the process's main thread, before
/// libtest's `main`.
#[used]
#[link_section = ".init_array"]
static MAIN_THREAD_SCENARIOS: extern "C" fn() = main_thread_scenarios;

extern "C" fn main_thread_scenarios() {
    let install = match std::env::var(support::CHILD_ENV).as_deref() {
        Ok("main-thread-panic") => true,
        Ok("main-thread-panic-no-hook") => false,
        _ => return,
    };
    let Some((_, root)) = support::child_scenario() else {
        return;
    };
    let aux = support::child_aux();
    let outcome = std::panic::catch_unwind(|| main_thread_panic(&root, &aux, install));
    std::process::exit(if outcome.is_err() { 101 } else { 0 });
}

fn main_thread_panic(root: &Path, aux: &Path, install: bool) {
    let rt = support::current_thread_runtime();
    for _ in 0..2 {
        let registry = registry_in(root);
        if install {
            registry.install_panic_hook();
        }
        let mut file = registry.temp_file().unwrap();
        file.write_all(b"scratch").unwrap();
        let path_only = registry.temp_file().unwrap().into_temp_path();
        let dir = registry.temp_dir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/inner.txt"), b"inner").unwrap();
        let (caller, async_temp) = rt.block_on(async {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            let mut caller = registry
                .open(aux.join("caller.log"), &options)
                .await
                .unwrap();
            caller.write_all(CALLER_LOG).await.unwrap();
            caller.flush().await.unwrap();
            let mut async_temp = registry.temp_file_async().await.unwrap();
            async_temp.write_all(b"async").await.unwrap();
            async_temp.flush().await.unwrap();
            (caller, async_temp)
        });
        // Nothing of ours is ever dropped: only the hook can clean up.
        std::mem::forget((file, path_only, dir, caller, async_temp));
        std::mem::forget(registry);
    }
    println!("child: about to panic");
    std::io::stdout().flush().unwrap();
    std::mem::forget(rt);
    panic!("main thread boom");
}

fn child_worker_thread_panic(root: &Path) {
    let registry = registry_in(root);
    registry.install_panic_hook();
    let mut file = registry.temp_file().unwrap();
    file.write_all(b"before").unwrap();
    let dir = registry.temp_dir().unwrap();
    std::fs::write(dir.path().join("inner.txt"), b"inner").unwrap();

    let joined = std::thread::spawn(|| panic!("worker boom")).join();
    assert!(joined.is_err());

    assert!(
        file.path().exists(),
        "the temp file survives a worker panic"
    );
    assert!(dir.path().join("inner.txt").exists());
    file.write_all(b", after").unwrap();
    assert_eq!(std::fs::read(file.path()).unwrap(), b"before, after");
    assert_eq!(registry.len(), 2);
    assert!(!registry.is_closed());
    println!("child: alive");
}

fn child_tokio_task_panic(root: &Path) {
    let rt = support::multi_thread_runtime();
    rt.block_on(async {
        let registry = registry_in(root);
        registry.install_panic_hook();
        let file = registry.temp_file().unwrap();
        let mut async_file = registry.temp_file_async().await.unwrap();

        let joined = tokio::spawn(async { panic!("task boom") }).await;
        assert!(joined.unwrap_err().is_panic());

        assert!(file.path().exists());
        assert!(async_file.path().exists());
        assert!(!async_file.is_purged());
        async_file.write_all(b"still writable").await.unwrap();
        async_file.close().await.unwrap();
        assert_eq!(registry.len(), 1);
        drop(file);
        drop(registry);
    });
    drop(rt);
    println!("child: alive");
}

fn child_always_policy(root: &Path, aux: &Path) {
    support::block_on(async {
        let registry = registry_in(root);
        registry.install_panic_hook_with(PanicPolicy::Always);
        let file = registry.temp_file().unwrap();
        let dir = registry.temp_dir().unwrap();
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let mut caller = registry
            .open(aux.join("caller.log"), &options)
            .await
            .unwrap();
        caller.write_all(CALLER_LOG).await.unwrap();
        caller.flush().await.unwrap();

        let joined = std::thread::spawn(|| panic!("worker boom")).join();
        assert!(joined.is_err());

        assert!(!file.path().exists(), "Always purges on a worker panic");
        assert!(!dir.path().exists());
        assert!(caller.is_purged());
        assert_eq!(registry.len(), 0);
        assert!(registry.session_dir().join(tempreg::LOCK_NAME).exists());
        assert!(
            !registry.is_closed(),
            "the process goes on using the registry"
        );
        let again = registry.temp_file().unwrap();
        assert!(again.path().exists());
        drop((file, dir, caller, again));
        drop(registry);
    });
    println!("child: purged, session kept");
}

static WATCHED: OnceLock<PathBuf> = OnceLock::new();

fn child_previous_hook(root: &Path) {
    std::panic::set_hook(Box::new(|_| {
        let gone = WATCHED.get().is_some_and(|p| !p.exists());
        eprintln!("PREVIOUS HOOK RAN: watched file gone = {gone}");
    }));
    let registry = registry_in(root);
    registry.install_panic_hook_with(PanicPolicy::Always);
    let file = registry.temp_file().unwrap();
    WATCHED.set(file.path().to_path_buf()).unwrap();

    let joined = std::thread::spawn(|| panic!("worker boom")).join();
    assert!(joined.is_err());
    drop(file);
    drop(registry);
}

fn child_weak_registry(root: &Path) {
    let registry: ResourceRegistry = registry_in(root);
    registry.install_panic_hook_with(PanicPolicy::Always);
    let session = registry.session_dir().to_path_buf();
    drop(registry.temp_file().unwrap());
    drop(registry);
    assert!(
        !session.exists(),
        "an installed hook does not hold the session"
    );
    let joined = std::thread::spawn(|| panic!("worker boom")).join();
    assert!(joined.is_err());
    println!("child: alive");
}
