//! The orphan sweep against real dead and live processes: a session is
//! removed exactly when its lock can be taken, whatever its name, pid or age
//! says, and nothing outside the root is ever touched.

mod support;

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(unix)]
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use support::{
    assert_empty_dir, dead_hold_child, dead_pid, names_in, registry_in, scratch_root, snapshot,
    start_hold, symlink,
};
#[cfg(unix)]
use support::{or_skip, LockPlant, Planted};
use tempreg::{list_sessions, sweep_orphans, sweep_orphans_with, SweepOptions, LOCK_NAME};

/// Makes a directory that looks like a session of `pid` to the sweep: the
/// name, a lock file holding the pid (that nobody locks) and some data.
fn forge_session(root: &Path, name: &str, pid: u32, data: &[u8]) -> std::path::PathBuf {
    let dir = root.join(name);
    fs::create_dir(&dir).expect("mkdir forged session");
    fs::write(dir.join(LOCK_NAME), format!("{pid}\n")).expect("forged lock");
    fs::write(dir.join("data.bin"), data).expect("forged data");
    dir
}

fn file_name(path: &Path) -> OsString {
    path.file_name().expect("a file name").to_owned()
}

#[test]
fn sweep_removes_a_killed_childs_session_and_leaves_a_live_sibling() {
    let root = scratch_root();
    let own = registry_in(root.path());
    let mut mine = own.temp_file().expect("temp file");
    std::io::Write::write_all(&mut mine, b"mine").expect("write");
    let own_dir = own.temp_dir().expect("temp dir");
    fs::write(own_dir.path().join("note"), b"kept").expect("write note");
    let own_before = snapshot(own.session_dir());

    let (dead, held) = dead_hold_child(root.path());
    assert!(dead.session.is_dir(), "SIGKILL ran no clean-up");

    let report = sweep_orphans(root.path()).expect("sweep");
    assert!(report.is_clean(), "{report}");
    assert!(!report.is_dry_run());
    assert_eq!(report.removed().len(), 1, "{report}");
    let removed = &report.removed()[0];
    assert_eq!(removed.path(), dead.session);
    assert!(!removed.is_live());
    assert_eq!(removed.pid(), Some(dead.process.pid()));
    assert_eq!((removed.files(), removed.bytes()), (held.files, held.bytes));
    assert_eq!(report.files_freed(), held.files);
    assert_eq!(report.bytes_freed(), held.bytes);
    assert_eq!(report.live().len(), 1, "{report}");
    assert_eq!(report.live()[0].path(), own.session_dir());
    assert!(report.live()[0].is_live());
    assert_eq!(report.live()[0].pid(), Some(std::process::id()));

    assert!(!dead.session.exists(), "the orphan is still there");
    assert_eq!(names_in(root.path()), [file_name(own.session_dir())]);
    assert_eq!(snapshot(own.session_dir()), own_before);
    assert!(mine.path().is_file() && own_dir.path().is_dir());
}

#[test]
fn a_stale_looking_session_whose_lock_is_held_is_left_alone() {
    let root = scratch_root();
    let (mut live, held) = start_hold(root.path());

    // Everything but the lock says "dead": a pid in the name and in the lock
    // file that no process has, a month-old lock file, and a stopped owner.
    let gone = dead_pid();
    let stale = root.path().join(format!("tempreg-{gone}-Stale123"));
    fs::rename(&live.session, &stale).expect("rename the live session");
    let lock = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(stale.join(LOCK_NAME))
        .expect("open lock file");
    std::io::Write::write_all(&mut &lock, format!("{gone}\n").as_bytes()).expect("write pid");
    let month_ago = SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
    lock.set_modified(month_ago).expect("age the lock file");
    drop(lock);
    // Stopped, on Unix (Windows has no SIGSTOP).
    #[cfg(unix)]
    live.process.signal(libc::SIGSTOP);
    let before = snapshot(&stale);

    let report = sweep_orphans(root.path()).expect("sweep");
    assert!(report.is_clean(), "{report}");
    assert!(report.removed().is_empty(), "{report}");
    assert_eq!(report.live().len(), 1, "{report}");
    let info = &report.live()[0];
    assert_eq!(info.path(), stale);
    assert_eq!(info.pid(), Some(gone), "the pid is shown as written");
    assert!(info.age().expect("an age") >= Duration::from_secs(29 * 24 * 3600));
    // (Under Wine a live owner's anonymous files have names, and count.)
    if support::or_skip(support::names_go_at_once()).is_some() {
        assert_eq!((info.files(), info.bytes()), (held.files, held.bytes));
    }
    assert_eq!(snapshot(&stale), before, "a live session was touched");

    // Only the lock protected it: once the owner is dead, it goes.
    live.process.kill_hard();
    let report = sweep_orphans(root.path()).expect("sweep");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.removed()[0].path(), stale);
    assert_empty_dir(root.path());
}

#[test]
fn a_forged_session_with_a_live_pid_but_a_free_lock_is_swept() {
    let root = scratch_root();
    let pid = std::process::id();
    let forged = forge_session(
        root.path(),
        &format!("tempreg-{pid}-AbCd1234"),
        pid,
        &[7; 42],
    );
    fs::create_dir(forged.join("sub")).expect("mkdir sub");
    fs::write(forged.join("sub").join("nested.txt"), b"12345678").expect("nested");
    // A session killed between its `flock` and its rename into place.
    let init = root.path().join(format!(".tempreg-init-{pid}-InIt1234"));
    fs::create_dir(&init).expect("mkdir init");
    fs::write(init.join(LOCK_NAME), format!("{pid}\n")).expect("init lock");

    let report = sweep_orphans(root.path()).expect("sweep");
    assert!(report.is_clean(), "{report}");
    let mut removed: Vec<_> = report.removed().iter().map(|s| s.path()).collect();
    removed.sort();
    assert_eq!(removed, [init.as_path(), forged.as_path()], "{report}");
    assert!(report.removed().iter().all(|s| s.pid() == Some(pid)));
    assert_eq!(report.files_freed(), 2);
    assert_eq!(report.bytes_freed(), 50);
    assert!(report.live().is_empty());
    assert_empty_dir(root.path());
}

#[test]
fn directories_without_a_lock_or_with_a_foreign_name_are_left_alone() {
    let root = scratch_root();
    let pid = std::process::id();
    let r = root.path();
    let no_lock = r.join(format!("tempreg-{pid}-NoLock12"));
    fs::create_dir(&no_lock).expect("mkdir");
    fs::write(no_lock.join("data.bin"), b"no lock here").expect("write");
    // A process killed between `mkdir` and `flock` of its session leaves this.
    fs::create_dir(r.join(format!(".tempreg-init-{pid}-Empty123"))).expect("mkdir");
    forge_session(r, "scratch-not-a-session", pid, b"foreign name");
    forge_session(
        r,
        &format!("tempreg-{pid}-short"),
        pid,
        b"random part too short",
    );
    forge_session(
        r,
        &format!("tempreg-x{pid}-AbCd1234"),
        pid,
        b"pid part not digits",
    );
    forge_session(
        r,
        &format!("tempreg-{pid}-AbCd-234"),
        pid,
        b"random part not alnum",
    );
    fs::write(
        r.join(format!("tempreg-{pid}-PlainFil")),
        b"a file, not a dir",
    )
    .expect("file");
    let before = snapshot(r);

    for dry_run in [true, false] {
        let report = sweep_orphans_with(r, &SweepOptions::new().dry_run(dry_run)).expect("sweep");
        assert!(report.is_clean(), "{report}");
        assert!(report.removed().is_empty(), "{report}");
        assert!(report.live().is_empty(), "{report}");
    }
    assert!(list_sessions(r).expect("list").is_empty());
    assert_eq!(snapshot(r), before);
}

#[test]
fn the_sweep_never_follows_a_symlink_out_of_the_root() {
    if support::or_skip(support::can_symlink()).is_none() {
        return;
    }
    let root = scratch_root();
    let outside = scratch_root();
    // A victim that a sweep following links would judge an orphan: it has an
    // unlocked lock file.
    let victim = outside.path().join("victim");
    fs::create_dir_all(victim.join("sub")).expect("mkdir victim");
    fs::write(victim.join(LOCK_NAME), b"1\n").expect("victim lock");
    fs::write(victim.join("precious.txt"), b"precious").expect("victim file");
    fs::write(victim.join("sub").join("deep.txt"), b"deep").expect("victim deep");
    let lone = outside.path().join("lone.txt");
    fs::write(&lone, b"lone").expect("victim lone file");
    let victim_before = snapshot(outside.path());

    let (dead, held) = dead_hold_child(root.path());
    symlink(&victim, dead.session.join("link-to-victim-dir")).expect("symlink");
    symlink(&lone, dead.session.join("link-to-victim-file")).expect("symlink");
    let child_dir = fs::read_dir(&dead.session)
        .expect("list dead session")
        .flatten()
        .find(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .expect("the hold child made a temp dir")
        .path();
    symlink(&victim, child_dir.join("escape")).expect("symlink");
    // At the root: a link named like a session, and a session whose lock
    // file is a link to the victim's.
    symlink(&victim, root.path().join("tempreg-1-SymLink1")).expect("symlink");
    let lock_link = root.path().join("tempreg-2-LockLink");
    fs::create_dir(&lock_link).expect("mkdir");
    symlink(victim.join(LOCK_NAME), lock_link.join(LOCK_NAME)).expect("symlink");
    fs::write(lock_link.join("data.bin"), b"data").expect("write");

    let report = sweep_orphans(root.path()).expect("sweep");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.removed()[0].path(), dead.session);
    assert_eq!(report.files_freed(), held.files, "links are not files");
    assert_eq!(report.bytes_freed(), held.bytes);
    assert!(report.live().is_empty());

    assert_eq!(
        snapshot(outside.path()),
        victim_before,
        "the victim changed"
    );
    assert_eq!(
        names_in(root.path()),
        ["tempreg-1-SymLink1", "tempreg-2-LockLink"]
    );
    assert!(fs::symlink_metadata(root.path().join("tempreg-1-SymLink1"))
        .expect("link kept")
        .file_type()
        .is_symlink());
    assert!(lock_link.join("data.bin").is_file());
}

#[test]
fn a_dry_run_removes_nothing_and_reports_what_it_would() {
    let root = scratch_root();
    let own = registry_in(root.path());
    let _file = own.temp_file().expect("temp file");
    let (dead, held) = dead_hold_child(root.path());
    let before = snapshot(root.path());

    let judged = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&judged);
    let options = SweepOptions::new().dry_run(true).on_progress(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let report = sweep_orphans_with(root.path(), &options).expect("dry run");
    assert!(report.is_dry_run());
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.removed()[0].path(), dead.session);
    assert!(!report.removed()[0].is_live());
    assert_eq!(report.files_freed(), held.files);
    assert_eq!(report.bytes_freed(), held.bytes);
    assert_eq!(report.live().len(), 1);
    assert_eq!(judged.load(Ordering::SeqCst), 2);
    let text = report.to_string();
    assert!(
        text.starts_with("would remove 1 orphaned session(s) (3 file(s)"),
        "{text}"
    );
    assert_eq!(snapshot(root.path()), before, "a dry run changed the root");

    // The dry run took no lasting lock: a real sweep removes the same.
    let report = sweep_orphans(root.path()).expect("sweep");
    assert!(!report.is_dry_run());
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.files_freed(), held.files);
    assert_eq!(report.bytes_freed(), held.bytes);
    assert!(report
        .to_string()
        .starts_with("removed 1 orphaned session(s)"));
    assert!(!dead.session.exists());
}

#[test]
fn sweep_orphans_on_start_removes_dead_sessions_before_building() {
    let root = scratch_root();
    let (dead, _) = dead_hold_child(root.path());
    let (live, _) = start_hold(root.path());

    // Without the option, building leaves the orphan alone.
    let plain = registry_in(root.path());
    assert!(dead.session.is_dir());

    let sweeping = tempreg::ResourceRegistry::builder()
        .root(root.path())
        .sweep_orphans_on_start(true)
        .build()
        .expect("build with sweep on start");
    assert!(
        !dead.session.exists(),
        "the orphan survived the start sweep"
    );
    let mut expected = vec![
        file_name(&live.session),
        file_name(plain.session_dir()),
        file_name(sweeping.session_dir()),
    ];
    expected.sort();
    assert_eq!(names_in(root.path()), expected);
    assert!(live.session.join(LOCK_NAME).is_file());
}

#[test]
fn list_sessions_tells_live_from_orphaned_and_removes_nothing() {
    let root = scratch_root();
    let own = registry_in(root.path());
    let mut file = own.temp_file().expect("temp file");
    std::io::Write::write_all(&mut file, b"1234567").expect("write");
    let (live, live_held) = start_hold(root.path());
    let (dead, dead_held) = dead_hold_child(root.path());
    let before = snapshot(root.path());

    let sessions = list_sessions(root.path()).expect("list");
    assert_eq!(sessions.len(), 3, "{sessions:#?}");
    assert!(sessions.windows(2).all(|w| w[0].path() < w[1].path()));
    let find = |path: &Path| {
        sessions
            .iter()
            .find(|s| s.path() == path)
            .unwrap_or_else(|| panic!("{} not listed: {sessions:#?}", path.display()))
    };
    let mine = find(own.session_dir());
    assert!(mine.is_live());
    assert_eq!(mine.pid(), Some(std::process::id()));
    assert_eq!((mine.files(), mine.bytes()), (1, 7));
    let theirs = find(&live.session);
    assert!(theirs.is_live());
    assert_eq!(theirs.pid(), Some(live.process.pid()));
    // (Under Wine a live owner's anonymous files have names, and count.)
    if support::or_skip(support::names_go_at_once()).is_some() {
        assert_eq!(
            (theirs.files(), theirs.bytes()),
            (live_held.files, live_held.bytes)
        );
    }
    let orphan = find(&dead.session);
    assert!(!orphan.is_live());
    assert_eq!(orphan.pid(), Some(dead.process.pid()));
    assert_eq!(
        (orphan.files(), orphan.bytes()),
        (dead_held.files, dead_held.bytes)
    );
    for s in &sessions {
        assert!(s.age().expect("an age") < Duration::from_secs(3600));
    }
    assert_eq!(snapshot(root.path()), before, "listing changed the root");

    // Listing took no lasting lock.
    let report = sweep_orphans(root.path()).expect("sweep");
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_eq!(report.live().len(), 2, "{report}");
}

#[test]
fn a_kept_session_dir_is_listed_as_kept_and_never_swept() {
    let root = scratch_root();
    let registry = registry_in(root.path());
    fs::write(
        registry.session_dir().join("evidence.log"),
        b"why it failed",
    )
    .expect("write");
    let kept = registry.keep_session_dir().expect("keep");
    drop(registry);
    assert!(kept.join("evidence.log").is_file());
    assert!(
        kept.join(LOCK_NAME).is_file(),
        "the lock file stays, marked kept, so the session stays in view"
    );

    let report = support::judged_once_settled(
        || sweep_orphans(root.path()).expect("sweep"),
        |report| report.live().is_empty(),
    );
    assert!(
        report.removed().is_empty() && report.live().is_empty(),
        "{report}"
    );
    assert_eq!(report.kept().len(), 1, "{report}");
    let listed = support::judged_once_settled(
        || list_sessions(root.path()).expect("list"),
        |listed| listed.iter().all(|s| !s.is_live()),
    );
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].path(), kept);
    assert_eq!(listed[0].state(), tempreg::SessionState::Kept);
    assert_eq!(listed[0].pid(), Some(std::process::id()));
    assert_eq!((listed[0].files(), listed[0].bytes()), (1, 13));
    assert!(kept.join("evidence.log").is_file());
}

/// Builds registries in `root` for up to `limit` while `judge` runs in a
/// loop on other threads; returns the first build error, if any.
fn build_while(
    root: &Path,
    limit: Duration,
    judge: impl Fn(&Path) + Send + Sync + 'static,
) -> Option<String> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let judge = Arc::new(judge);
    let judges: Vec<_> = (0..3)
        .map(|_| {
            let (root, stop, judge) = (root.to_owned(), Arc::clone(&stop), Arc::clone(&judge));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    judge(&root);
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + limit;
    let mut failure = None;
    while failure.is_none() && std::time::Instant::now() < deadline {
        if let Err(e) = tempreg::ResourceRegistry::builder().root(root).build() {
            failure = Some(e.to_string());
        }
    }
    stop.store(true, Ordering::Relaxed);
    for judge in judges {
        judge.join().expect("judge thread");
    }
    failure
}

#[test]
fn a_concurrent_sweep_never_breaks_a_registry_being_built() {
    let root = scratch_root();
    let removed_live = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&removed_live);
    let failure = build_while(root.path(), Duration::from_secs(5), move |root| {
        let report = sweep_orphans(root).expect("sweep");
        // No process here ever dies: anything removed was being created.
        counter.fetch_add(report.removed().len(), Ordering::SeqCst);
    });
    assert_eq!(failure, None);
    assert_eq!(
        removed_live.load(Ordering::SeqCst),
        0,
        "live sessions swept"
    );
}

#[test]
fn a_concurrent_listing_never_breaks_a_registry_being_built() {
    let root = scratch_root();
    let failure = build_while(root.path(), Duration::from_secs(5), |root| {
        list_sessions(root).expect("list");
    });
    assert_eq!(failure, None);
}

// ---------------------------------------------------------------------------
// Session look-alikes planted in a shared root (`support::plants`): a
// directory named like a session whose lock file is a FIFO, a directory, a
// symlink, or another user's file. Every way the library judges a root must
// return promptly, not take one for a session, and leave it as it was.
// Unix only: FIFOs, owners and shared roots like /tmp are Unix's (Windows
// keeps a temp directory per user).

/// How long one judging of a root may take before it counts as hung.
#[cfg(unix)]
const HANG_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` on a thread and returns what it returns; fails the test if it
/// has not returned within [`HANG_TIMEOUT`] (the thread is left behind).
#[cfg(unix)]
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(HANG_TIMEOUT) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} hung: it had not returned after {HANG_TIMEOUT:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

#[cfg(unix)]
fn bounded_sweep(root: &Path, options: SweepOptions) -> tempreg::SweepReport {
    let root = root.to_path_buf();
    within("sweep_orphans", move || sweep_orphans_with(&root, &options))
        .expect("the sweep fails only if the root cannot be listed")
}

#[cfg(unix)]
fn bounded_list(root: &Path) -> Vec<tempreg::SessionInfo> {
    let root = root.to_path_buf();
    within("list_sessions", move || list_sessions(&root)).expect("list")
}

#[cfg(unix)]
fn bounded_build_sweeping(root: &Path) -> tempreg::ResourceRegistry {
    let root = root.to_path_buf();
    within("building with sweep_orphans_on_start(true)", move || {
        tempreg::ResourceRegistry::builder()
            .sweep_orphans_on_start(true)
            .root(&root)
            .build()
    })
    .expect("build with sweep_orphans_on_start")
}

#[cfg(unix)]
fn assert_judged_nothing(report: &tempreg::SweepReport) {
    assert!(report.is_clean(), "{report}");
    assert!(report.removed().is_empty(), "{report}");
    assert!(report.live().is_empty(), "{report}");
    assert!(report.kept().is_empty(), "{report}");
    assert!(report.other_users().is_empty(), "{report}");
}

/// Plants `kind` alone in a fresh root and judges the root every way the
/// library can: a dry run, a sweep, a listing, and a registry built with
/// `sweep_orphans_on_start`. None may hang, fail, see a session, or change
/// anything in the planted directory.
#[cfg(unix)]
fn assert_a_planted_lock_is_left_alone(kind: LockPlant) {
    let root = scratch_root();
    let Some(planted) = or_skip(Planted::plant(kind, root.path())) else {
        return;
    };

    let report = bounded_sweep(root.path(), SweepOptions::new().dry_run(true));
    assert_judged_nothing(&report);
    planted.assert_intact("after a dry-run sweep");

    let report = bounded_sweep(root.path(), SweepOptions::new());
    assert_judged_nothing(&report);
    planted.assert_intact("after sweep_orphans");

    let listed = bounded_list(root.path());
    assert!(listed.is_empty(), "listed as a session: {listed:#?}");
    planted.assert_intact("after list_sessions");

    let registry = bounded_build_sweeping(root.path());
    planted.assert_intact("after building with sweep_orphans_on_start");
    let mut expected = vec![planted.name(), file_name(registry.session_dir())];
    expected.sort();
    assert_eq!(names_in(root.path()), expected);
    drop(registry);
    assert_eq!(names_in(root.path()), [planted.name()]);
    planted.assert_intact("after the registry ended");
}

/// A FIFO with no writer for a lock file: opening it to try its lock, as a
/// blocking open, would wait for a writer for ever.
#[cfg(unix)]
#[test]
fn a_fifo_for_a_lock_file_neither_stalls_a_sweep_nor_is_a_session() {
    assert_a_planted_lock_is_left_alone(LockPlant::Fifo);
}

/// A directory for a lock file: it can be opened and `flock`ed like a file,
/// and a sweep that did so took its parent for an orphan and emptied it.
#[cfg(unix)]
#[test]
fn a_directory_for_a_lock_file_is_not_a_session_and_its_files_stay() {
    assert_a_planted_lock_is_left_alone(LockPlant::Dir);
}

/// A symlink for a lock file, to an unlocked file outside the root owned
/// like the directory: followed, it would pass for an orphan's lock.
#[cfg(unix)]
#[test]
fn a_symlink_for_a_lock_file_is_not_followed_and_not_a_session() {
    assert_a_planted_lock_is_left_alone(LockPlant::Symlink);
}

/// Another user's unlocked file as the lock of a directory of ours (as root):
/// it is not the directory's owner's lock, so not a session, even for root.
#[cfg(unix)]
#[test]
fn a_lock_file_of_another_user_than_its_directory_is_not_a_session() {
    assert_a_planted_lock_is_left_alone(LockPlant::OtherOwner);
}

/// A real orphan among every look-alike: the same sweep (and the sweep on
/// start) removes it, and only it.
#[cfg(unix)]
#[test]
fn a_real_orphan_among_planted_look_alikes_is_the_only_one_removed() {
    let root = scratch_root();
    let planted = Planted::plant_all(root.path());
    let mut plant_names: Vec<_> = planted.iter().map(Planted::name).collect();
    plant_names.sort();
    let (dead, held) = dead_hold_child(root.path());

    let listed = bounded_list(root.path());
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].path(), dead.session);
    assert_eq!(listed[0].state(), tempreg::SessionState::Orphaned);

    let report = bounded_sweep(root.path(), SweepOptions::new());
    assert!(report.is_clean(), "{report}");
    let removed: Vec<_> = report.removed().iter().map(|s| s.path()).collect();
    assert_eq!(removed, [dead.session.as_path()], "{report}");
    assert_eq!(report.files_freed(), held.files, "{report}");
    assert_eq!(report.bytes_freed(), held.bytes, "{report}");
    assert!(report.live().is_empty(), "{report}");
    assert!(report.kept().is_empty(), "{report}");
    assert!(report.other_users().is_empty(), "{report}");
    assert_eq!(names_in(root.path()), plant_names);
    for p in &planted {
        p.assert_intact("after a sweep that removed a real orphan");
    }

    let (dead, _) = dead_hold_child(root.path());
    let registry = bounded_build_sweeping(root.path());
    assert!(!dead.session.exists(), "the start sweep left the orphan");
    let mut expected = plant_names.clone();
    expected.push(file_name(registry.session_dir()));
    expected.sort();
    assert_eq!(names_in(root.path()), expected);
    for p in &planted {
        p.assert_intact("after a start sweep that removed a real orphan");
    }
}

/// A command started with `spawn_in_session` holds a lock of its own on the
/// session: a sweep leaves the session alone while anything it started
/// still runs, and its owner can tell when that is over.
// Unix only: `sh` leaving a process in the background, killed by pid.
#[cfg(unix)]
#[test]
fn a_spawned_commands_leftover_process_keeps_the_session_live_until_it_ends() {
    let root = support::scratch_root();
    let registry = support::registry_in(root.path());
    let mut cmd = std::process::Command::new("sh");
    // The command ends at once; the process it started in the background
    // (it keeps the inherited lock fd) goes on.
    cmd.args(["-c", "sleep 300 >/dev/null 2>&1 & echo $!"])
        .stdout(std::process::Stdio::piped());
    let child = registry.spawn_in_session(&mut cmd).expect("spawn");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    let leftover: u32 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the background pid");
    let mut leftover = support::KillOnDrop::new(leftover);

    assert!(
        registry.is_session_in_use().unwrap(),
        "the leftover holds it"
    );
    assert!(
        registry.is_session_in_use().unwrap(),
        "asking again does not drop the owner's lock"
    );
    // Even with its owner gone, the session stays live for a sweep.
    let session = registry.session_dir().to_path_buf();
    registry.leave_session_to_sweep();
    drop(registry);
    assert!(session.join(LOCK_NAME).is_file());
    let report = sweep_orphans(root.path()).unwrap();
    assert!(report.removed().is_empty(), "{report}");
    assert_eq!(report.live().len(), 1, "{report}");

    leftover.kill_now(support::SIGKILL);
    support::wait_until(
        support::CHILD_EXIT_TIMEOUT,
        "the leftover's lock goes",
        || list_sessions(root.path()).is_ok_and(|l| l.iter().all(|s| !s.is_live())),
    );
    let report = support::judged_once_settled(
        || sweep_orphans(root.path()).unwrap(),
        |report| report.live().is_empty(),
    );
    assert_eq!(report.removed().len(), 1, "{report}");
    assert_empty_dir(root.path());
}

#[test]
fn once_a_spawned_command_and_its_processes_end_the_session_is_its_owners_alone() {
    let root = support::scratch_root();
    let registry = support::registry_in(root.path());
    #[cfg(unix)]
    let mut cmd = std::process::Command::new("sh");
    #[cfg(unix)]
    cmd.args(["-c", "echo done > \"$TMPDIR/result\""]);
    #[cfg(windows)]
    let mut cmd = std::process::Command::new("cmd");
    // cmd parses its command line itself: passed as written.
    #[cfg(windows)]
    std::os::windows::process::CommandExt::raw_arg(&mut cmd, "/C echo done> \"%TMP%\\result\"");
    let status = registry.spawn_in_session(&mut cmd).unwrap().wait().unwrap();
    assert!(status.success());
    let in_use =
        support::judged_once_settled(|| registry.is_session_in_use().unwrap(), |in_use| !in_use);
    assert!(!in_use, "the command has ended");
    // Still locked, by this process alone: a sweep leaves it.
    let report = sweep_orphans(root.path()).unwrap();
    assert_eq!(report.live().len(), 1, "{report}");
    assert!(registry.session_dir().join("result").is_file());
    drop(registry);
    assert_empty_dir(root.path());
}
