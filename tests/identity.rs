//! "Never delete what we did not create": when the name a guard tracks now
//! holds something else (another file, another directory, or a symlink to a
//! victim outside the session), no drop, close or purge deletes it or follows
//! it, and the caller is told which path was left alone.

mod support;

use std::io;
use std::path::{Path, PathBuf};

use support::{assert_empty_dir, assert_names_path, is_present, registry_in, symlink};
use tempreg::{
    EntryKind, PurgeFailureKind, PurgeReport, ResourceRegistry, TempDir, TempFile, TempPath,
};

const VICTIM_TEXT: &[u8] = b"victim contents: must survive";

/// Files outside every session that a swapped-in symlink points at.
struct Victims {
    _dir: tempfile::TempDir,
    file: PathBuf,
    dir: PathBuf,
}

impl Victims {
    fn new() -> Victims {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("victim.txt");
        std::fs::write(&file, VICTIM_TEXT).unwrap();
        let vdir = dir.path().join("victim_dir");
        std::fs::create_dir_all(vdir.join("sub")).unwrap();
        std::fs::write(vdir.join("a.txt"), b"a").unwrap();
        std::fs::write(vdir.join("sub/b.txt"), b"b").unwrap();
        Victims {
            _dir: dir,
            file,
            dir: vdir,
        }
    }

    fn assert_intact(&self) {
        assert_eq!(std::fs::read(&self.file).unwrap(), VICTIM_TEXT);
        assert_eq!(std::fs::read(self.dir.join("a.txt")).unwrap(), b"a");
        assert_eq!(std::fs::read(self.dir.join("sub/b.txt")).unwrap(), b"b");
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    File,
    Path,
    Dir,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Drop,
    Close,
    PurgeBlocking,
    PurgeAsync,
}

/// What is put at the guard's name after our file is moved away.
#[derive(Debug, Clone, Copy)]
enum Swap {
    OtherFile,
    OtherDir,
    SymlinkToVictim,
}

const SWAPS: [Swap; 3] = [Swap::OtherFile, Swap::OtherDir, Swap::SymlinkToVictim];

enum Guard {
    File(TempFile),
    Path(TempPath),
    Dir(TempDir),
}

impl Guard {
    fn new(registry: &ResourceRegistry, kind: Kind) -> Guard {
        match kind {
            Kind::File => Guard::File(registry.temp_file().unwrap()),
            Kind::Path => Guard::Path(registry.temp_file().unwrap().into_temp_path()),
            Kind::Dir => {
                let dir = registry.temp_dir().unwrap();
                std::fs::write(dir.path().join("ours.txt"), b"ours").unwrap();
                Guard::Dir(dir)
            }
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Guard::File(g) => g.path().to_path_buf(),
            Guard::Path(g) => g.to_path_buf(),
            Guard::Dir(g) => g.path().to_path_buf(),
        }
    }

    fn close(self) -> io::Result<()> {
        match self {
            Guard::File(g) => g.close(),
            Guard::Path(g) => g.close(),
            Guard::Dir(g) => g.close(),
        }
    }
}

/// Puts `swap` at `path`; returns a check that it is still there, unchanged.
fn put_replacement(path: &Path, kind: Kind, swap: Swap, victims: &Victims) -> impl Fn() {
    let path = path.to_path_buf();
    let target = if kind == Kind::Dir {
        victims.dir.clone()
    } else {
        victims.file.clone()
    };
    match swap {
        Swap::OtherFile => std::fs::write(&path, b"replacement").unwrap(),
        Swap::OtherDir => {
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("other.txt"), b"other").unwrap();
        }
        Swap::SymlinkToVictim => symlink(&target, &path).unwrap(),
    }
    move || match swap {
        Swap::OtherFile => assert_eq!(std::fs::read(&path).unwrap(), b"replacement"),
        Swap::OtherDir => assert_eq!(std::fs::read(path.join("other.txt")).unwrap(), b"other"),
        Swap::SymlinkToVictim => {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(
                meta.file_type().is_symlink(),
                "{} should be a symlink",
                path.display()
            );
            assert_eq!(std::fs::read_link(&path).unwrap(), target);
        }
    }
}

fn assert_reports_replaced(report: &PurgeReport, path: &Path, kind: EntryKind) {
    assert_eq!(report.removed(), 0, "{report}");
    assert_eq!(report.failures().len(), 1, "{report}");
    let failure = &report.failures()[0];
    assert_eq!(failure.kind(), PurgeFailureKind::Replaced, "{report}");
    assert_eq!(failure.path(), path);
    assert_eq!(failure.entry_kind(), Some(kind));
    assert_names_path(failure, path);
    assert_names_path(report, path);
}

fn run_case(kind: Kind, action: Action, swap: Swap) {
    let root = tempfile::tempdir().unwrap();
    let victims = Victims::new();
    support::block_on(async {
        let registry = registry_in(root.path());
        let guard = Guard::new(&registry, kind);
        let path = guard.path();
        let moved_away = registry.session_dir().join("moved-away");
        std::fs::rename(&path, &moved_away).unwrap();
        let replacement_intact = put_replacement(&path, kind, swap, &victims);

        let entry_kind = if kind == Kind::Dir {
            EntryKind::TempDir
        } else {
            EntryKind::TempFile
        };
        match action {
            Action::Drop => drop(guard),
            Action::Close => {
                let err = guard
                    .close()
                    .expect_err("close must report the replaced name");
                assert_names_path(&err, &path);
            }
            Action::PurgeBlocking => {
                let report = registry.purge_all_blocking();
                assert_reports_replaced(&report, &path, entry_kind);
                drop(guard);
            }
            Action::PurgeAsync => {
                let report = registry.purge_all().await;
                assert_reports_replaced(&report, &path, entry_kind);
                drop(guard);
            }
        }

        replacement_intact();
        victims.assert_intact();
        assert!(is_present(&moved_away), "our moved file is not chased");
        // Nothing more happens to it on later purges either.
        let again = registry.purge_all().await;
        assert_eq!(again.removed(), 0, "{again}");
        replacement_intact();
        drop(registry);
    });
    // The session's final removal unlinks a symlink inside it, never its target.
    victims.assert_intact();
    assert_empty_dir(root.path());
}

fn run_all_swaps(kind: Kind, action: Action) {
    let links = support::or_skip(support::can_symlink()).is_some();
    for swap in SWAPS {
        if matches!(swap, Swap::SymlinkToVictim) && !links {
            continue;
        }
        eprintln!("case: {kind:?} {action:?} {swap:?}");
        run_case(kind, action, swap);
    }
}

#[test]
fn temp_file_drop_leaves_a_replaced_name_alone() {
    run_all_swaps(Kind::File, Action::Drop);
}

#[test]
fn temp_file_close_reports_a_replaced_name() {
    run_all_swaps(Kind::File, Action::Close);
}

#[test]
fn temp_file_blocking_purge_reports_a_replaced_name() {
    run_all_swaps(Kind::File, Action::PurgeBlocking);
}

#[test]
fn temp_file_async_purge_reports_a_replaced_name() {
    run_all_swaps(Kind::File, Action::PurgeAsync);
}

#[test]
fn temp_path_drop_leaves_a_replaced_name_alone() {
    run_all_swaps(Kind::Path, Action::Drop);
}

#[test]
fn temp_path_close_reports_a_replaced_name() {
    run_all_swaps(Kind::Path, Action::Close);
}

#[test]
fn temp_path_blocking_purge_reports_a_replaced_name() {
    run_all_swaps(Kind::Path, Action::PurgeBlocking);
}

#[test]
fn temp_path_async_purge_reports_a_replaced_name() {
    run_all_swaps(Kind::Path, Action::PurgeAsync);
}

#[test]
fn temp_dir_drop_leaves_a_swapped_in_dir_or_symlink_alone() {
    run_all_swaps(Kind::Dir, Action::Drop);
}

#[test]
fn temp_dir_close_reports_a_swapped_in_dir_or_symlink() {
    run_all_swaps(Kind::Dir, Action::Close);
}

#[test]
fn temp_dir_blocking_purge_reports_a_swapped_in_dir_or_symlink() {
    run_all_swaps(Kind::Dir, Action::PurgeBlocking);
}

#[test]
fn temp_dir_async_purge_reports_a_swapped_in_dir_or_symlink() {
    run_all_swaps(Kind::Dir, Action::PurgeAsync);
}

/// Symlinks made inside a temp dir, pointing out of it.
fn plant_symlinks(dir: &Path, victims: &Victims) {
    symlink(&victims.dir, dir.join("link-to-victim-dir")).unwrap();
    symlink(&victims.file, dir.join("link-to-victim-file")).unwrap();
    std::fs::create_dir_all(dir.join("nested/deeper")).unwrap();
    symlink(&victims.dir, dir.join("nested/deeper/link")).unwrap();
    symlink(victims.dir.join("sub"), dir.join("nested/link-to-sub")).unwrap();
    std::fs::write(dir.join("nested/ours.txt"), b"ours").unwrap();
    symlink("/nonexistent/dangling", dir.join("dangling")).unwrap();
}

#[test]
fn removing_a_temp_dir_unlinks_symlinks_inside_it_without_following_them() {
    if support::or_skip(support::can_symlink()).is_none() {
        return;
    }
    for action in [
        Action::Drop,
        Action::Close,
        Action::PurgeBlocking,
        Action::PurgeAsync,
    ] {
        let root = tempfile::tempdir().unwrap();
        let victims = Victims::new();
        support::block_on(async {
            let registry = registry_in(root.path());
            let dir = registry.temp_dir().unwrap();
            let path = dir.path().to_path_buf();
            plant_symlinks(&path, &victims);

            match action {
                Action::Drop => drop(dir),
                Action::Close => dir.close().unwrap(),
                Action::PurgeBlocking => {
                    let report = registry.purge_all_blocking();
                    assert_eq!(report.removed(), 1, "{report}");
                    assert!(report.is_clean(), "{report}");
                    drop(dir);
                }
                Action::PurgeAsync => {
                    let report = registry.purge_all().await;
                    assert_eq!(report.removed(), 1, "{report}");
                    assert!(report.is_clean(), "{report}");
                    drop(dir);
                }
            }
            assert!(!is_present(&path), "{action:?}: the temp dir is gone");
            victims.assert_intact();
            drop(registry);
        });
        victims.assert_intact();
        assert_empty_dir(root.path());
    }
}

#[test]
fn symlinks_left_in_the_session_dir_are_not_followed_by_its_removal() {
    if support::or_skip(support::can_symlink()).is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let victims = Victims::new();
    let registry = registry_in(root.path());
    plant_symlinks(registry.session_dir(), &victims);
    drop(registry);
    victims.assert_intact();
    assert_empty_dir(root.path());
}

#[test]
fn async_temp_file_replaced_by_a_symlink_is_left_alone() {
    if support::or_skip(support::can_symlink()).is_none() {
        return;
    }
    for action in [Action::Drop, Action::Close, Action::PurgeAsync] {
        let root = tempfile::tempdir().unwrap();
        let victims = Victims::new();
        support::block_on(async {
            let registry = registry_in(root.path());
            let file = registry.temp_file_async().await.unwrap();
            let path = file.path().to_path_buf();
            std::fs::rename(&path, registry.session_dir().join("moved-away")).unwrap();
            symlink(&victims.file, &path).unwrap();

            match action {
                Action::Drop => {
                    drop(file);
                    // Waits for the drop's clean-up on the blocking pool.
                    let report = registry.purge_all().await;
                    assert!(report.is_clean(), "{report}");
                }
                Action::Close => {
                    let err = file.close().await.expect_err("close must report it");
                    assert_names_path(&err, &path);
                }
                Action::PurgeAsync | Action::PurgeBlocking => {
                    let report = registry.purge_all_with(Default::default()).await;
                    assert_reports_replaced(&report, &path, EntryKind::AsyncTempFile);
                    drop(file);
                }
            }
            assert!(std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink());
            victims.assert_intact();
            drop(registry);
        });
        victims.assert_intact();
        assert_empty_dir(root.path());
    }
}
