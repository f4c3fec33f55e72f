//! The exit hook in real processes: `std::process::exit` (and a return from
//! `main` with the registry in a `static`) purges and removes the session;
//! without the hook the session stays for a sweep; a child forked without
//! exec never purges its parent's files.

mod support;

use support::{
    assert_empty_dir, names_in, parse_held, registry_in, scratch_root, start_crash_child,
    CHILD_EXIT_TIMEOUT, LINE_TIMEOUT,
};
use tempreg::LOCK_NAME;

/// Runs `crash_child SCENARIO` in `root`, waits for `line` and a clean exit.
fn run_to_exit(scenario: &str, root: &std::path::Path, line: &str) -> (std::path::PathBuf, String) {
    let mut child = start_crash_child(scenario, root);
    let seen = child.process.wait_for_line(line, LINE_TIMEOUT);
    let status = child.process.wait_exit(CHILD_EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{}", child.process.describe());
    (child.session.clone(), seen)
}

#[test]
fn exit_with_the_hook_purges_and_removes_the_session() {
    let root = scratch_root();
    let (session, _) = run_to_exit("exit", root.path(), "exiting ");
    assert!(!session.exists());
    assert_empty_dir(root.path());
}

#[test]
fn exit_without_the_hook_leaves_the_session_for_a_sweep() {
    let root = scratch_root();
    let (session, line) = run_to_exit("exit-no-hook", root.path(), "exiting ");
    let held = parse_held(&line);

    // Why the hook exists: `exit` runs no destructor, so the guards' files
    // and the session directory stay (the anonymous files had no name).
    let names = names_in(&session);
    assert!(names.contains(&LOCK_NAME.into()), "{names:?}");
    assert_eq!(names.len(), 4, "lock, two files and a dir: {names:?}");

    // The lock died with the process, so a sweep takes it all.
    let report = tempreg::sweep_orphans(root.path()).expect("sweep");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.files_freed(), held.files);
    assert_eq!(report.bytes_freed(), held.bytes);
    assert_empty_dir(root.path());
}

#[test]
fn a_return_from_main_with_a_static_registry_runs_the_hook() {
    let root = scratch_root();
    run_to_exit("return-static", root.path(), "returning");
    assert_empty_dir(root.path());
}

#[test]
fn a_forked_child_exiting_leaves_the_parents_files() {
    let root = scratch_root();
    // The parent checks its files after its child's `exit`, then exits
    // through its own hook.
    run_to_exit("fork", root.path(), "parent-files-ok");
    assert_empty_dir(root.path());
}

#[test]
fn a_forked_child_dropping_its_registry_leaves_the_parents_session() {
    let root = scratch_root();
    let (_, line) = run_to_exit("fork-drop", root.path(), "parent-session-");
    assert_eq!(line, "parent-session-ok");
    assert_empty_dir(root.path());
}

#[test]
fn purge_on_exit_registers_each_registry_once() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    assert!(registry.purge_on_exit());
    assert!(!registry.purge_on_exit());
    assert!(
        !registry.clone().purge_on_exit(),
        "clones share one registry"
    );
    let other = registry_in(root.path());
    assert!(other.purge_on_exit());

    // The hook holds registries weakly: they still end when dropped.
    let file = registry.temp_file().expect("temp file");
    drop((registry, other, file));
    assert_empty_dir(root.path());
}
