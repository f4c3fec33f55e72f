//! Session look-alikes that anyone who can write to a shared root (`/tmp`,
//! mode 1777) can plant there: a directory named like a session
//! (`tempreg-<digits>-<8 alphanumerics>`) holding a `victim.txt`, whose
//! `.tempreg.lock` is not a lock file its directory's owner made. No sweep
//! or listing may take one for a session, wait on it, or change anything in
//! it; [`Planted::assert_intact`] checks the last, byte for byte.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tempreg::LOCK_NAME;

use super::fifo::mkfifo;
use super::files::{scratch_root, snapshot};

/// The uid (and gid) of `nobody`: the other user of the tests.
pub const NOBODY: u32 = 65534;

/// What stands where a session's lock file should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockPlant {
    /// A FIFO with no writer: opening it for reading, blocking, never
    /// returns.
    Fifo,
    /// A directory, with a file in it.
    Dir,
    /// A symlink to a regular file outside the root.
    Symlink,
    /// A regular file owned by [`NOBODY`] in a directory of ours (root's):
    /// not the directory's owner's lock.
    OtherOwner,
}

impl LockPlant {
    pub const ALL: [LockPlant; 4] = [
        LockPlant::Fifo,
        LockPlant::Dir,
        LockPlant::Symlink,
        LockPlant::OtherOwner,
    ];

    /// The session-like name of the planted directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            LockPlant::Fifo => "tempreg-4242-FifoLck1",
            LockPlant::Dir => "tempreg-4243-DirLock1",
            LockPlant::Symlink => "tempreg-4244-SymLink1",
            LockPlant::OtherOwner => "tempreg-4245-OthrOwn1",
        }
    }
}

/// A planted session look-alike and what it held when planted.
pub struct Planted {
    pub kind: LockPlant,
    /// The planted directory, in the root.
    pub dir: PathBuf,
    /// Outside the root: where the [`LockPlant::Symlink`] lock points.
    outside: tempfile::TempDir,
    before: Fingerprint,
}

/// One path under a planted directory (or its outside), and everything
/// about it that a sweep must not change.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    path: PathBuf,
    kind: &'static str,
    uid: u32,
    gid: u32,
    mode: u32,
    link: Option<PathBuf>,
}

impl Planted {
    /// Plants `kind` in `root`; the error says why the machine refused it
    /// (a [`LockPlant::OtherOwner`] needs `chown`), for [`or_skip`](super::or_skip).
    pub fn plant(kind: LockPlant, root: &Path) -> Result<Planted, String> {
        let dir = root.join(kind.dir_name());
        fs::create_dir(&dir).expect("mkdir the planted directory");
        fs::write(dir.join("victim.txt"), b"the victim's data\n").expect("write victim.txt");
        let lock = dir.join(LOCK_NAME);
        let outside = scratch_root();
        match kind {
            LockPlant::Fifo => mkfifo(&lock),
            LockPlant::Dir => {
                fs::create_dir(&lock).expect("mkdir the lock");
                fs::write(lock.join("inside.txt"), b"inside the lock dir\n")
                    .expect("write a file in the lock dir");
            }
            LockPlant::Symlink => {
                // Unlocked, holding a pid, owned like the directory: what a
                // sweep that followed the link would take for an orphan's.
                let target = outside.path().join("elsewhere.lock");
                fs::write(&target, b"4244\nprecious, outside the root\n")
                    .expect("write the link's target");
                symlink(&target, &lock).expect("symlink the lock");
            }
            LockPlant::OtherOwner => {
                fs::write(&lock, b"4245\n").expect("write the lock");
                std::os::unix::fs::chown(&lock, Some(NOBODY), Some(NOBODY))
                    .map_err(|e| format!("cannot give {} to uid {NOBODY}: {e}", lock.display()))?;
                let dir_uid = fs::metadata(&dir).expect("stat the planted dir").uid();
                if dir_uid == NOBODY {
                    return Err(format!("running as uid {NOBODY}, the lock's owner"));
                }
            }
        }
        let before = fingerprint(&dir, outside.path());
        Ok(Planted {
            kind,
            dir,
            outside,
            before,
        })
    }

    /// Plants every [`LockPlant`] in `root`; one the machine refuses is left
    /// out, with a `skipped:` line.
    pub fn plant_all(root: &Path) -> Vec<Planted> {
        LockPlant::ALL
            .into_iter()
            .filter_map(|kind| match Planted::plant(kind, root) {
                Ok(planted) => Some(planted),
                Err(why) => {
                    println!("skipped: planting a {kind:?} lock: {why}");
                    None
                }
            })
            .collect()
    }

    /// The planted directory's name.
    pub fn name(&self) -> OsString {
        OsString::from(self.kind.dir_name())
    }

    /// Asserts that the planted directory and everything in it (and the
    /// symlink's target outside the root) are as planted: the same names,
    /// kinds, owners, modes and link targets, and byte for byte the same
    /// content.
    pub fn assert_intact(&self, after: &str) {
        assert!(
            self.dir.is_dir(),
            "{after}: the planted {:?} directory {} is gone",
            self.kind,
            self.dir.display()
        );
        assert_eq!(
            fingerprint(&self.dir, self.outside.path()),
            self.before,
            "{after}: the planted {:?} directory {} changed",
            self.kind,
            self.dir.display()
        );
    }
}

impl Drop for Planted {
    /// If a test fails while a sweep is stuck opening the FIFO (the bug the
    /// FIFO is planted for), a writer opened without blocking lets that open
    /// return, so the stuck thread can end.
    fn drop(&mut self) {
        if self.kind == LockPlant::Fifo && std::thread::panicking() {
            let _ = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(self.dir.join(LOCK_NAME));
        }
    }
}

/// Everything about a planted directory and its outside that a sweep must
/// not change.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    /// Every path, with its kind, owner, mode and link target.
    entries: Vec<Entry>,
    /// Every regular file's content, byte for byte (the symlink's target
    /// is a regular file in the outside).
    contents: Vec<(PathBuf, Option<Vec<u8>>)>,
    outside_contents: Vec<(PathBuf, Option<Vec<u8>>)>,
}

fn fingerprint(dir: &Path, outside: &Path) -> Fingerprint {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<Entry>) {
        for entry in fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let kind = meta.file_type();
            out.push(Entry {
                path: path.strip_prefix(base).unwrap_or(&path).to_path_buf(),
                kind: if kind.is_dir() {
                    "dir"
                } else if kind.is_file() {
                    "file"
                } else if kind.is_symlink() {
                    "symlink"
                } else if kind.is_fifo() {
                    "fifo"
                } else {
                    "other"
                },
                uid: meta.uid(),
                gid: meta.gid(),
                mode: meta.mode() & 0o7777,
                link: kind
                    .is_symlink()
                    .then(|| fs::read_link(&path).expect("readlink")),
            });
            if kind.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut entries = Vec::new();
    walk(dir, dir, &mut entries);
    walk(outside.parent().unwrap_or(outside), outside, &mut entries);
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Fingerprint {
        entries,
        contents: snapshot(dir),
        outside_contents: snapshot(outside),
    }
}
