//! The process-wide registry (`tempreg::global`, `temp_file`, `temp_dir`),
//! as a test harness uses it: shared by the threads of one process, gone
//! when the process exits, left alone by a test that panics, and swept by
//! the next process after one was killed (as `cargo nextest` does on a
//! timeout). Each case runs in a re-executed copy of this test binary whose
//! `TMPDIR` is a scratch root.

mod support;

use std::path::Path;
use std::process::Command;

use support::{assert_empty_dir, names_in, Running, CHILD_EXIT_TIMEOUT, LINE_TIMEOUT};

const CHILD_TEST: &str = "child_process_entry";

fn child(scenario: &str, root: &Path) -> Running {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    support::child_args(&mut cmd, CHILD_TEST, scenario, root, root);
    // (Windows' temp directory is `TMP`'s, then `TEMP`'s.)
    cmd.env("TMPDIR", root).env("TMP", root).env("TEMP", root);
    Running::start(cmd, &format!("global scenario {scenario}"))
}

#[test]
fn threads_share_one_session_and_it_goes_when_the_process_exits() {
    // The guards are forgotten, their files held open until the process ends: where a name removed while its file is open stays until it is
    // closed (Wine), the hook cannot remove the session.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = support::scratch_root();
    let mut run = child("threads", root.path());
    run.wait_for_line("sessions: 1", LINE_TIMEOUT);
    let status = run.wait_exit(CHILD_EXIT_TIMEOUT);
    assert!(status.success(), "{}", run.describe());
    assert_empty_dir(root.path());
}

#[test]
fn a_panicking_test_leaves_the_others_files_alone() {
    let root = support::scratch_root();
    let mut run = child("panicking-test", root.path());
    run.wait_for_line("other file intact", LINE_TIMEOUT);
    let status = run.wait_exit(CHILD_EXIT_TIMEOUT);
    assert!(status.success(), "{}", run.describe());
    assert_empty_dir(root.path());
}

#[test]
fn what_a_killed_process_left_is_swept_by_the_next_one() {
    // The next one forgets its guards, their files held open until it ends: where a name removed while its file is open stays until it is
    // closed (Wine), its hook cannot remove its session.
    if support::or_skip(support::names_go_at_once()).is_none() {
        return;
    }
    let root = support::scratch_root();
    let mut killed = child("hold", root.path());
    killed.wait_for_line("holding", LINE_TIMEOUT);
    killed.kill_hard();
    assert_eq!(names_in(root.path()).len(), 1, "the killed one's session");

    let mut next = child("threads", root.path());
    next.wait_for_line("sessions: 1", LINE_TIMEOUT);
    let status = next.wait_exit(CHILD_EXIT_TIMEOUT);
    assert!(status.success(), "{}", next.describe());
    assert_empty_dir(root.path());
}

/// Runs a scenario in a re-executed test binary; returns at once otherwise.
#[test]
fn child_process_entry() {
    let Some((scenario, root)) = support::child_scenario() else {
        return;
    };
    match scenario.as_str() {
        "threads" => child_threads(&root),
        "panicking-test" => child_panicking_test(),
        "hold" => child_hold(),
        other => panic!("unknown scenario {other}"),
    }
}

fn child_threads(root: &Path) {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let file = tempreg::temp_file().unwrap();
                let dir = tempreg::temp_dir().unwrap();
                // Left for the exit: guards forgotten, as a test that
                // ends with `process::exit` would.
                std::mem::forget((file, dir));
                tempreg::global().unwrap().session_dir().to_path_buf()
            })
        })
        .collect();
    let mut sessions: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    sessions.dedup();
    // A line of its own: libtest has printed "test … " without a newline.
    println!("\nsessions: {}", sessions.len());
    assert_eq!(names_in(root).len(), 1, "one session in the root");
    // The harness ends the process with `exit`: the exit hook cleans.
}

fn child_panicking_test() {
    let other = tempreg::temp_file().unwrap();
    let panicked = std::thread::spawn(|| {
        let _mine = tempreg::temp_file().unwrap();
        panic!("a failing test");
    })
    .join();
    assert!(panicked.is_err());
    assert!(other.path().is_file(), "a caught panic purged nothing");
    println!("\nother file intact");
}

fn child_hold() {
    let file = tempreg::temp_file().unwrap();
    std::mem::forget(file);
    println!("\nholding");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn the_readme_shows_the_test_suite_example_as_it_is() {
    // The README's worked test file is `tests/test_suite_example.rs`, which
    // runs with this suite: the README must show it verbatim (less its two
    // opening comment lines).
    let readme = include_str!("../README.md");
    let file = include_str!("test_suite_example.rs");
    let body = file.splitn(3, '\n').nth(2).expect("the file has a body");
    assert!(
        readme.contains(&format!("```rust,ignore\n{body}```")),
        "README.md no longer shows tests/test_suite_example.rs as it is"
    );
}
