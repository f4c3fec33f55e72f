//! A file belongs to the process that made it: a child forked without exec
//! (which inherits the registry, its guards and its hooks) cleans nothing
//! of its parent's, whether it drops the guards, purges, removes the
//! session, drops the registry or calls `exit`; what the child makes itself
//! is its own to clean. Each case runs the `crash_child` fixture, whose
//! parent checks its files after its child ended.

// Unix only: fork() without exec has no Windows counterpart.
#![cfg(unix)]

mod support;

use support::{assert_empty_dir, run_to_exit, scratch_root};

#[test]
fn a_forked_child_dropping_guards_and_purging_leaves_the_parents_files() {
    let root = scratch_root();
    // The child exits with 0 only if its own temp file went with its guard
    // and neither purge touched anything; the parent then checks its files.
    run_to_exit("fork-guards", root.path(), "parent-files-ok");
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
