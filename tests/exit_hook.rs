//! The exit hook in real processes: `std::process::exit` (and a return from
//! `main` with the registry in a `static`) purges and removes the session;
//! without the hook the session stays for a sweep. (A forked child's exit:
//! `tests/fork.rs`.)

mod support;

use support::{assert_empty_dir, names_in, parse_held, registry_in, run_to_exit, scratch_root};
use tempreg::LOCK_NAME;

#[test]
fn exit_with_the_hook_purges_and_removes_the_session() {
    let root = scratch_root();
    let (session, _) = run_to_exit("exit", root.path(), "exiting ");
    // On Windows `std::process::exit` is `ExitProcess`, which runs no
    // `atexit` handler: the session stays, its lock released, for a sweep.
    if cfg!(windows) {
        assert!(session.join(LOCK_NAME).is_file());
        let report = tempreg::sweep_orphans(root.path()).expect("sweep");
        assert_eq!(report.removed().len(), 1, "{report}");
    }
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
    // The guards are forgotten, their files held open until the process ends: where a name removed while its file is open stays until it is
    // closed (Wine), the hook cannot remove the session.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = scratch_root();
    run_to_exit("return-static", root.path(), "returning");
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
