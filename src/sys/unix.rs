//! Unix: fd-relative calls through `rustix`, `libc` only where `rustix` has
//! no wrapper (`atexit`, `pthread_atfork`, `pthread_main_np`).
//!
//! Per system:
//!
//! - **Linux**: identities come from `statx` (with the birth time where the
//!   file system records it, and the mount id for the tree removal's mount
//!   check), falling back to `fstatat` where `statx` is missing (old kernels,
//!   some sandboxes). `O_TMPFILE` for anonymous files, `renameat2` with
//!   `RENAME_NOREPLACE`, `dup3`.
//! - **macOS**: `fstatat` (no birth time in the identity), `renameatx_np`
//!   with `RENAME_EXCL`, no `O_TMPFILE`, `pthread_main_np`. `sync_data` is
//!   std's, which on macOS is `fcntl(F_FULLFSYNC)`: plain `fsync` there
//!   leaves the data in the drive's cache.
//! - **FreeBSD and other BSDs**: `fstatat`; a rename that must not replace
//!   is a `linkat` then `unlinkat` for a file, and for a directory a
//!   placeholder `mkdirat` then a `renameat` over it (a directory may replace
//!   an empty one); no `O_TMPFILE`.
//!
//! Mount check: Linux compares the mount id (`STATX_MNT_ID`), which also
//! sees bind mounts of the same file system; elsewhere the device number,
//! which does not see a bind (`nullfs`) mount of the same file system.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{Freed, LockProbe, Removal};

/// The identity of a file: device, inode, type and, where known, birth
/// time.
///
/// The type and the birth time catch most reuses of an inode number by a
/// new file (ext4 hands a freed inode to the next file made in the same
/// directory). Not all: the birth time has the kernel's clock tick as its
/// grain (4 ms at 250 Hz), so a file of the same type made within the same
/// tick as ours was removed passes. Where the guard holds the file open,
/// the inode cannot be reused at all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
    /// Nanoseconds since the epoch; 0 when the file system does not say.
    born: u64,
    kind: FileType,
}

impl FileId {
    /// True if `found` is the file this identity was recorded for. The birth
    /// time is compared when both sides know it.
    pub(crate) fn matches(&self, found: &FileId) -> bool {
        self.dev == found.dev
            && self.ino == found.ino
            && self.kind == found.kind
            && (self.born == 0 || found.born == 0 || self.born == found.born)
    }

    /// True if the birth time is part of this identity.
    pub(crate) fn knows_birth(&self) -> bool {
        self.born != 0
    }
}

/// What one lookup says about a name.
#[derive(Debug, Clone, Copy)]
struct Meta {
    kind: FileType,
    id: FileId,
    size: u64,
    /// The mount it is on: the mount id on Linux, else the device.
    mount: u64,
    uid: u32,
    mode: u32,
}

impl Meta {
    // The field types differ by system (`st_dev` is `i32` on macOS).
    #[allow(clippy::unnecessary_cast)]
    fn from_stat(st: &rustix::fs::Stat) -> Meta {
        let dev = st.st_dev as u64;
        let kind = FileType::from_raw_mode(st.st_mode as _);
        Meta {
            kind,
            id: FileId {
                dev,
                ino: st.st_ino as u64,
                born: 0,
                kind,
            },
            size: st.st_size as u64,
            mount: dev,
            uid: st.st_uid,
            mode: st.st_mode as u32,
        }
    }

    #[cfg(target_os = "linux")]
    fn from_statx(x: &rustix::fs::Statx) -> Meta {
        use rustix::fs::StatxFlags;
        let dev = rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor);
        let mask = StatxFlags::from_bits_retain(x.stx_mask);
        let born = if mask.contains(StatxFlags::BTIME) {
            let t = x.stx_btime;
            (t.tv_sec.max(0) as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(t.tv_nsec))
                .max(1)
        } else {
            0
        };
        let kind = FileType::from_raw_mode(u32::from(x.stx_mode));
        Meta {
            kind,
            id: FileId {
                dev,
                ino: x.stx_ino,
                born,
                kind,
            },
            size: x.stx_size,
            mount: if mask.contains(StatxFlags::MNT_ID) {
                x.stx_mnt_id
            } else {
                dev
            },
            uid: x.stx_uid,
            mode: u32::from(x.stx_mode),
        }
    }
}

/// Looks `name` up in `dir` without following a symlink (`""` with
/// `AT_EMPTY_PATH`: `dir` itself). `None` if there is no such name.
fn meta_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Meta>> {
    let flags = if name.is_empty() {
        AtFlags::EMPTY_PATH
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::StatxFlags;
        let want = StatxFlags::TYPE
            | StatxFlags::MODE
            | StatxFlags::UID
            | StatxFlags::INO
            | StatxFlags::SIZE
            | StatxFlags::BTIME
            | StatxFlags::MNT_ID;
        match rustix::fs::statx(dir, name, flags | AtFlags::NO_AUTOMOUNT, want) {
            Ok(x) => return Ok(Some(Meta::from_statx(&x))),
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match rustix::fs::statat(dir, name, flags) {
        Ok(st) => Ok(Some(Meta::from_stat(&st))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn meta_of(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    meta_at(fd, OsStr::new(""))?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

// ---------------------------------------------------------------------------
// Directories

/// An open directory: an fd, opened `O_DIRECTORY | O_CLOEXEC`.
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

impl Dir {
    /// Opens a directory named by the user (a root): symlinks in the path are
    /// followed, as a user naming a directory expects.
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::openat(rustix::fs::CWD, path, DIR_FLAGS, Mode::empty())?;
        Ok(Dir { fd })
    }

    /// Opens the directory `name` inside this one, never following a
    /// symlink: a symlink fails with `ELOOP`, a file with `ENOTDIR`.
    pub(crate) fn open_child(&self, name: &OsStr) -> io::Result<Dir> {
        let fd = rustix::fs::openat(&self.fd, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())?;
        Ok(Dir { fd })
    }

    /// The identity of this directory.
    pub(crate) fn id(&self) -> io::Result<FileId> {
        Ok(meta_of(self.fd.as_fd())?.id)
    }

    /// True if this directory belongs to the user we run as (or we are root).
    pub(crate) fn is_ours(&self) -> io::Result<bool> {
        let euid = rustix::process::geteuid();
        Ok(euid.is_root() || meta_of(self.fd.as_fd())?.uid == euid.as_raw())
    }
}

/// True for the errors [`Dir::open_child`] gives for a symlink or something
/// that is not a directory: the name does not hold a directory we may enter.
pub(crate) fn is_not_a_dir(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::LOOP | Errno::NOTDIR)
    )
}

/// The names in `dir`, without `.` and `..`.
pub(crate) fn list(dir: &Dir) -> io::Result<Vec<OsString>> {
    list_fd(dir.fd.as_fd())
}

fn list_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(fd)? {
        let entry = entry?;
        let bytes = entry.file_name().to_bytes();
        if bytes != b"." && bytes != b".." {
            names.push(OsStr::from_bytes(bytes).to_os_string());
        }
    }
    Ok(names)
}

// ---------------------------------------------------------------------------
// Creating

/// Creates the regular file `name` in `dir` (`O_EXCL`, mode 0600) and
/// returns it open for reading and writing, with its identity.
pub(crate) fn create_file(dir: &Dir, name: &OsStr) -> io::Result<(File, FileId)> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir.fd, name, flags, Mode::from_raw_mode(0o600))?;
    match meta_of(fd.as_fd()) {
        Ok(meta) => Ok((File::from(fd), meta.id)),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty());
            Err(e)
        }
    }
}

/// Creates the directory `name` in `dir` (mode 0700) and returns its identity.
pub(crate) fn create_dir(dir: &Dir, name: &OsStr) -> io::Result<FileId> {
    rustix::fs::mkdirat(&dir.fd, name, Mode::from_raw_mode(0o700))?;
    match meta_at(dir.fd.as_fd(), name) {
        Ok(Some(meta)) if meta.kind == FileType::Directory => Ok(meta.id),
        Ok(_) => Err(io::Error::other("the new directory was replaced at once")),
        Err(e) => Err(e),
    }
}

/// An unnamed file in `dir` (`O_TMPFILE`), freed by the kernel when its last
/// fd closes, however the process ends. `None` where the system or the file
/// system cannot make one (then the caller makes a named file and unlinks
/// it at once).
pub(crate) fn anonymous_file(dir: &Dir) -> io::Result<Option<File>> {
    #[cfg(target_os = "linux")]
    {
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::openat(&dir.fd, ".", flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Ok(None)
    }
}

// ---------------------------------------------------------------------------
// Removing: every deletion of the crate is one of these.

/// Unlinks `name` in `dir` if it still holds the file `id` (anything but a
/// directory: a regular file, a FIFO, a socket).
pub(crate) fn remove_file(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Removal> {
    let Some(meta) = meta_at(dir.fd.as_fd(), name)? else {
        return Ok(Removal::Gone);
    };
    if !id.matches(&meta.id) || meta.kind == FileType::Directory {
        return Ok(Removal::Replaced);
    }
    unlink(dir.fd.as_fd(), name, AtFlags::empty())
}

fn unlink(dir: BorrowedFd<'_>, name: &OsStr, flags: AtFlags) -> io::Result<Removal> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) => Ok(Removal::Removed),
        Err(Errno::NOENT) => Ok(Removal::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Removes the directory `name` in `dir` with everything in it, if it is
/// still the directory `id`. Symlinks inside are unlinked, never followed;
/// a mount inside is left alone and reported (see [`clear_dir`]).
pub(crate) fn remove_dir(dir: &Dir, name: &OsStr, id: &FileId) -> io::Result<Removal> {
    let child = match dir.open_child(name) {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Removal::Gone),
        Err(e) if is_not_a_dir(&e) => return Ok(Removal::Replaced),
        Err(e) => return Err(e),
    };
    if !id.matches(&child.id()?) {
        return Ok(Removal::Replaced);
    }
    clear_dir(&child, &|_| false)?;
    // The name must still be our directory right before the rmdir.
    match meta_at(dir.fd.as_fd(), name)? {
        None => Ok(Removal::Gone),
        Some(meta) if !id.matches(&meta.id) => Ok(Removal::Replaced),
        Some(_) => unlink(dir.fd.as_fd(), name, AtFlags::REMOVEDIR),
    }
}

/// A failure inside a tree, named by its path relative to the tree's top.
#[derive(Debug)]
struct TreeError {
    at: PathBuf,
    source: io::Error,
    more: usize,
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.at.display(), self.source)?;
        if self.more > 0 {
            write!(f, " (and {} more failure(s))", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for TreeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// The first failure of a walk, and how many followed.
#[derive(Default)]
struct Failures {
    first: Option<(PathBuf, io::Error)>,
    more: usize,
}

impl Failures {
    fn note(&mut self, at: PathBuf, e: io::Error) {
        if self.first.is_none() {
            self.first = Some((at, e));
        } else {
            self.more += 1;
        }
    }

    fn into_result<T>(self, ok: T) -> io::Result<T> {
        match self.first {
            None => Ok(ok),
            Some((at, source)) => Err(io::Error::new(
                source.kind(),
                TreeError {
                    at,
                    source,
                    more: self.more,
                },
            )),
        }
    }
}

/// Runs `op` on a name in `dir`; if it fails for lack of permission on
/// `dir` (a read-only directory, as Go's module cache leaves), gives the
/// owner write and search permission on `dir` (through its fd) and tries
/// once more.
fn with_write_access(
    dir: BorrowedFd<'_>,
    mut op: impl FnMut() -> rustix::io::Result<()>,
) -> rustix::io::Result<()> {
    match op() {
        Err(e @ (Errno::ACCESS | Errno::PERM)) => {
            let Ok(meta) = meta_of(dir) else {
                return Err(e);
            };
            let mode = Mode::from_raw_mode((meta.mode | 0o700) & 0o7777);
            if meta.mode & 0o300 == 0o300 || rustix::fs::fchmod(dir, mode).is_err() {
                // Not a permission bit we can change (immutable, not ours).
                return Err(e);
            }
            op()
        }
        other => other,
    }
}

/// Removes everything inside `dir` but the top-level names `skip` accepts,
/// depth first, through fds only, and returns what was freed.
///
/// - A symlink is unlinked as a name, never followed.
/// - A directory on another mount (a file system mounted inside, or a bind
///   mount) is left alone, with its contents, and reported as
///   `ResourceBusy`, as `rm --one-file-system` does.
/// - A read-only directory of ours is made writable to empty it.
/// - It goes on past failures and returns the first (with its path inside
///   the tree and a count of the others) after doing all it could.
pub(crate) fn clear_dir(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    struct Frame {
        fd: OwnedFd,
        at: PathBuf,
        /// Names still to visit; `true` once a subdirectory was emptied and
        /// only its rmdir is left.
        names: Vec<(OsString, bool)>,
    }
    let mut freed = Freed::default();
    let mut failures = Failures::default();
    let top = dir.fd.try_clone()?;
    let mount = meta_of(top.as_fd())?.mount;
    let names = list_fd(top.as_fd())?
        .into_iter()
        .filter(|n| !skip(n))
        .map(|n| (n, false))
        .collect();
    let mut stack = vec![Frame {
        fd: top,
        at: PathBuf::new(),
        names,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some((name, emptied)) = frame.names.pop() else {
            stack.pop();
            continue;
        };
        let fd = frame.fd.as_fd();
        let at = frame.at.join(&name);
        if emptied {
            match with_write_access(fd, || rustix::fs::unlinkat(fd, &name, AtFlags::REMOVEDIR)) {
                Ok(()) | Err(Errno::NOENT) => {}
                // Something inside could not go: already reported.
                Err(Errno::NOTEMPTY) if failures.first.is_some() => {}
                Err(e) => failures.note(at, e.into()),
            }
            continue;
        }
        let meta = match meta_at(fd, &name) {
            Ok(Some(meta)) => meta,
            Ok(None) => continue,
            Err(e) => {
                failures.note(at, e);
                continue;
            }
        };
        if meta.kind == FileType::Directory {
            if meta.mount != mount {
                failures.note(
                    at,
                    io::Error::new(
                        io::ErrorKind::ResourceBusy,
                        "another file system is mounted here; it was left alone",
                    ),
                );
                continue;
            }
            let opened = rustix::fs::openat(fd, &name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
                .map_err(io::Error::from)
                .and_then(|child| {
                    // Still the directory we looked at, not one swapped in.
                    let same = meta_of(child.as_fd())?.id.matches(&meta.id);
                    Ok((same, child))
                })
                .and_then(|(same, child)| Ok((same, list_fd(child.as_fd())?, child)));
            match opened {
                Ok((true, children, child)) => {
                    frame.names.push((name, true));
                    stack.push(Frame {
                        fd: child,
                        at,
                        names: children.into_iter().map(|n| (n, false)).collect(),
                    });
                }
                Ok((false, ..)) => {}
                Err(e) => failures.note(at, e),
            }
            continue;
        }
        match with_write_access(fd, || rustix::fs::unlinkat(fd, &name, AtFlags::empty())) {
            Ok(()) => {
                if meta.kind == FileType::RegularFile {
                    freed.files += 1;
                    freed.bytes += meta.size;
                }
            }
            Err(Errno::NOENT) => {}
            Err(e) => failures.note(at, e.into()),
        }
    }
    failures.into_result(freed)
}

/// Counts the regular files and their bytes in the tree under `dir` (but
/// the top-level names `skip` accepts), following nothing and staying on
/// `dir`'s mount.
pub(crate) fn measure(dir: &Dir, skip: &dyn Fn(&OsStr) -> bool) -> io::Result<Freed> {
    let mut total = Freed::default();
    let top = dir.fd.try_clone()?;
    let mount = meta_of(top.as_fd())?.mount;
    let mut stack = vec![(top, true)];
    while let Some((fd, is_top)) = stack.pop() {
        for name in list_fd(fd.as_fd())? {
            if is_top && skip(&name) {
                continue;
            }
            let Ok(Some(meta)) = meta_at(fd.as_fd(), &name) else {
                continue;
            };
            match meta.kind {
                FileType::RegularFile => {
                    total.files += 1;
                    total.bytes += meta.size;
                }
                FileType::Directory if meta.mount == mount => {
                    let flags = DIR_FLAGS | OFlags::NOFOLLOW;
                    if let Ok(child) = rustix::fs::openat(&fd, &name, flags, Mode::empty()) {
                        stack.push((child, false));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(total)
}

/// One listing of a directory: each name's inode and type, so that a large
/// purge can judge identities without one lookup per name.
///
/// A listing holds no device and no birth time: it judges by inode number
/// and type within the listed directory's device. Where the identity holds a
/// birth time, [`Listing::remove_file`] defers to [`remove_file`].
#[derive(Debug)]
pub(crate) struct Listing {
    dev: u64,
    names: std::collections::HashMap<OsString, (u64, FileType)>,
}

impl Listing {
    pub(crate) fn take(dir: &Dir) -> io::Result<Listing> {
        let dev = meta_of(dir.fd.as_fd())?.id.dev;
        let mut names = std::collections::HashMap::new();
        for entry in rustix::fs::Dir::read_from(&dir.fd)? {
            let entry = entry?;
            let bytes = entry.file_name().to_bytes();
            if bytes != b"." && bytes != b".." {
                names.insert(
                    OsStr::from_bytes(bytes).to_os_string(),
                    (entry.ino(), entry.file_type()),
                );
            }
        }
        Ok(Listing { dev, names })
    }

    /// Like [`remove_file`] for a regular file, judged by the listing.
    /// `None` when the listing cannot judge (no type given, or the identity
    /// holds a birth time the listing lacks): the caller asks
    /// [`remove_file`].
    pub(crate) fn remove_file(
        &self,
        dir: &Dir,
        name: &OsStr,
        id: &FileId,
    ) -> Option<io::Result<Removal>> {
        if id.knows_birth() {
            return None;
        }
        let Some(&(ino, kind)) = self.names.get(name) else {
            return Some(Ok(Removal::Gone));
        };
        if kind == FileType::Unknown {
            return None;
        }
        if id.dev != self.dev || id.ino != ino || kind != FileType::RegularFile {
            return Some(Ok(Removal::Replaced));
        }
        Some(unlink(dir.fd.as_fd(), name, AtFlags::empty()))
    }
}

// ---------------------------------------------------------------------------
// Renaming

/// Where [`move_file`] moves to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A name in an open directory.
    In(&'a Dir, &'a OsStr),
    /// A path, relative to the working directory if not absolute.
    Path(&'a Path),
}

/// Renames `name` in `dir` to `to` if it still holds `id` (checked first;
/// see the module docs for the window). With `noreplace`, fails with
/// `AlreadyExists` rather than replace what is at `to`.
pub(crate) fn move_file(
    dir: &Dir,
    name: &OsStr,
    id: &FileId,
    to: Target<'_>,
    noreplace: bool,
) -> io::Result<Removal> {
    let Some(meta) = meta_at(dir.fd.as_fd(), name)? else {
        return Ok(Removal::Gone);
    };
    if !id.matches(&meta.id) {
        return Ok(Removal::Replaced);
    }
    let (to_dir, to_name): (BorrowedFd<'_>, &Path) = match to {
        Target::In(d, n) => (d.fd.as_fd(), Path::new(n)),
        Target::Path(p) => (rustix::fs::CWD, p),
    };
    if noreplace {
        rename_noreplace(dir.fd.as_fd(), name, to_dir, to_name, meta.kind)?;
    } else {
        rustix::fs::renameat(&dir.fd, name, to_dir, to_name)?;
    }
    Ok(Removal::Removed)
}

#[cfg(any(target_os = "linux", target_vendor = "apple"))]
fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &Path,
    _kind: FileType,
) -> io::Result<()> {
    use rustix::fs::RenameFlags;
    Ok(rustix::fs::renameat_with(
        from_dir,
        from,
        to_dir,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &Path,
    kind: FileType,
) -> io::Result<()> {
    if kind == FileType::Directory {
        // Claim the name with an empty placeholder, then replace it: a
        // directory may replace an empty directory atomically.
        rustix::fs::mkdirat(to_dir, to, Mode::from_raw_mode(0o700))?;
        if let Err(e) = rustix::fs::renameat(from_dir, from, to_dir, to) {
            let _ = rustix::fs::unlinkat(to_dir, to, AtFlags::REMOVEDIR);
            return Err(e.into());
        }
        Ok(())
    } else {
        // A hard link fails if the name is taken; then the old name goes.
        rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
        rustix::fs::unlinkat(from_dir, from, AtFlags::empty())?;
        Ok(())
    }
}

/// Renames `from` to `to` inside `dir`, failing with `AlreadyExists` rather
/// than replace. For names nobody else can have made (session set-up).
pub(crate) fn rename_in(dir: &Dir, from: &OsStr, to: &OsStr) -> io::Result<()> {
    let kind = meta_at(dir.fd.as_fd(), from)?
        .map(|m| m.kind)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    rename_noreplace(dir.fd.as_fd(), from, dir.fd.as_fd(), Path::new(to), kind)
}

// ---------------------------------------------------------------------------
// Locks

/// A session's lock file, open. Its lock (an exclusive `flock`) lasts while
/// this value or a copy of its fd lives, and the kernel drops it when the
/// last one closes, however the process ended.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
}

impl LockFile {
    /// What its owner wrote into it (at most `max` bytes).
    pub(crate) fn contents(&self, max: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; max];
        let n = rustix::io::pread(&self.file, &mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// How long ago it was last written (its owner writes it once, when made).
    pub(crate) fn age(&self) -> Option<Duration> {
        let modified = self.file.metadata().and_then(|m| m.modified()).ok()?;
        SystemTime::now().duration_since(modified).ok()
    }

    /// True if its name was removed: an owner that unlinks its lock while
    /// ending is removing the session itself.
    pub(crate) fn is_unlinked(&self) -> bool {
        rustix::fs::fstat(&self.file).is_ok_and(|st| st.st_nlink == 0)
    }

    /// Replaces what the file holds with `contents` (the lock stays held).
    pub(crate) fn rewrite(&self, contents: &[u8]) -> io::Result<()> {
        self.file.set_len(0)?;
        let written = rustix::io::pwrite(&self.file, contents, 0)?;
        if written == contents.len() {
            Ok(())
        } else {
            Err(io::Error::from(io::ErrorKind::WriteZero))
        }
    }

    /// A copy of the fd that a child process inherits across exec (no
    /// `O_CLOEXEC`), which keeps the lock held while the child lives.
    pub(crate) fn inheritable_copy(&self) -> io::Result<OwnedFd> {
        Ok(rustix::io::dup(&self.file)?)
    }
}

/// How long ago `name` in `dir` was last written, looked up without opening
/// it (for our own session's lock, which we must not open: see
/// `session::is_own_session`).
pub(crate) fn age_of(dir: &Dir, name: &OsStr) -> Option<Duration> {
    let st = rustix::fs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
    SystemTime::now().duration_since(modified).ok()
}

/// Makes the lock file `name` in `dir`, locked and holding `contents`: it is
/// made and locked as `tmp`, then renamed to `name`, so whoever sees `name`
/// sees it locked.
pub(crate) fn create_lock(
    dir: &Dir,
    tmp: &OsStr,
    name: &OsStr,
    contents: &[u8],
) -> io::Result<LockFile> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(&dir.fd, tmp, flags, Mode::from_raw_mode(0o600))?;
    let mut file = File::from(fd);
    let made = rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(contents))
        .and_then(|()| rename_in(dir, tmp, name));
    match made {
        Ok(()) => Ok(LockFile { file }),
        Err(e) => {
            let _ = rustix::fs::unlinkat(&dir.fd, tmp, AtFlags::empty());
            Err(e)
        }
    }
}

/// Judges the lock file `name` in `dir` without ever blocking: it is opened
/// `O_NONBLOCK | O_NOFOLLOW` (a FIFO cannot stall us, a symlink is not
/// followed), must be a regular file owned by `dir`'s owner, and its lock is
/// tried with `LOCK_NB`: exclusive (to remove the session) or shared (to
/// look).
pub(crate) fn probe_lock(dir: &Dir, name: &OsStr, exclusive: bool) -> io::Result<LockProbe> {
    let flags =
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dir.fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(LockProbe::Missing),
        Err(Errno::LOOP) => return Ok(LockProbe::NotALock("its lock file is a symlink")),
        Err(Errno::NXIO | Errno::OPNOTSUPP) => {
            return Ok(LockProbe::NotALock("its lock file is a socket"))
        }
        Err(e) => return Err(e.into()),
    };
    let meta = meta_of(fd.as_fd())?;
    if meta.kind != FileType::RegularFile {
        return Ok(LockProbe::NotALock("its lock file is not a regular file"));
    }
    if meta.uid != meta_of(dir.fd.as_fd())?.uid {
        return Ok(LockProbe::NotALock(
            "its lock file belongs to another user than the directory",
        ));
    }
    let op = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    let lock = LockFile {
        file: File::from(fd),
    };
    match rustix::fs::flock(&lock.file, op) {
        Ok(()) => Ok(LockProbe::Free(lock)),
        Err(Errno::WOULDBLOCK) => Ok(LockProbe::Held(lock)),
        Err(e) => Err(e.into()),
    }
}

/// Removes the lock file `name` in `dir` (whose lock the caller holds).
pub(crate) fn remove_lock(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Open files

/// Flushes a file's data to stable storage: `fdatasync`, or on macOS
/// `fcntl(F_FULLFSYNC)` (std's choice, since `fsync` there stops at the
/// drive's cache).
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// A second fd for the file behind an async handle (for a blocking call
/// that must not hold the handle's lock).
pub(crate) fn duplicate(file: &tokio::fs::File) -> io::Result<File> {
    Ok(File::from(file.as_fd().try_clone_to_owned()?))
}

/// A handle's number, for [`revoke`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFile(RawFd);

impl RawFile {
    pub(crate) fn of(file: &File) -> RawFile {
        RawFile(file.as_raw_fd())
    }
}

/// An fd that every read and write fails on: `O_PATH` on Linux (`EBADF`),
/// a directory elsewhere (`EISDIR` on read, `EBADF` on write).
fn dead_fd() -> io::Result<BorrowedFd<'static>> {
    static DEAD: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = DEAD.get() {
        return Ok(fd.as_fd());
    }
    #[cfg(target_os = "linux")]
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = DIR_FLAGS;
    let fd = rustix::fs::openat(rustix::fs::CWD, "/", flags, Mode::empty())?;
    Ok(DEAD.get_or_init(|| fd).as_fd())
}

/// Swaps the open file behind `raw` for one that fails every read and
/// write, closing ours: an unlinked file's space is freed at once, and the
/// owner's fd number stays allocated (no other file can take it) until the
/// owner closes it.
///
/// # Safety
///
/// `raw` must be an open fd that nobody closes or replaces until this
/// returns. The fd is not closed here; only what it refers to changes.
pub(crate) unsafe fn revoke(raw: RawFile) -> io::Result<()> {
    let dead = dead_fd()?;
    // SAFETY: the caller keeps `raw` open for this call; `ManuallyDrop`
    // makes sure this borrowed ownership never closes it.
    let mut target = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(raw.0) });
    #[cfg(not(target_vendor = "apple"))]
    rustix::io::dup3(dead, &mut target, rustix::io::DupFlags::CLOEXEC)?;
    #[cfg(target_vendor = "apple")]
    {
        rustix::io::dup2(dead, &mut target)?;
        rustix::io::fcntl_setfd(&*target, rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Threads and processes

/// True on the process's main thread.
pub(crate) fn is_main_thread() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        rustix::thread::gettid() == rustix::process::getpid()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `pthread_main_np` takes nothing and only reads.
        unsafe { libc::pthread_main_np() == 1 }
    }
}

static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);

extern "C" fn forked() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Makes [`fork_generation`] count forks from now on; called before the
/// first registry exists.
pub(crate) fn watch_forks() {
    static WATCH: Once = Once::new();
    WATCH.call_once(|| {
        // SAFETY: `forked` is an `extern "C" fn()` that only does an atomic
        // add, which is async-signal-safe as a fork child handler must be.
        // No crate we depend on wraps `pthread_atfork`.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forked)) };
        if rc != 0 {
            tracing::warn!(rc, "tempreg could not watch for forks");
        }
    });
}

/// How many forks (without exec) lie between the first process that called
/// [`watch_forks`] and this one: one atomic load. Memory copied by a fork
/// carries the parent's generation, so anything stamped with another
/// generation than this one was made by an ancestor.
pub(crate) fn fork_generation() -> u32 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Registers `f` to run when the process calls `exit` (or returns from
/// `main`). Returns false if the system refused.
pub(crate) fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is an `extern "C" fn()` with no arguments; the caller
    // makes sure it never unwinds, as `atexit` requires. No crate we depend
    // on wraps `atexit`.
    unsafe { libc::atexit(f) == 0 }
}
