//! Unix: fd-relative calls through `rustix`, `libc` only where `rustix` has
//! no wrapper (`atexit`, `pthread_atfork`).
//!
//! Per system:
//!
//! - **Linux**: identities come from `statx` (with the birth time where the
//!   file system records it, and the mount id for the tree removal's mount
//!   check), falling back to `fstatat` where `statx` is missing (old kernels,
//!   some sandboxes). `O_TMPFILE` for anonymous files, `renameat2` with
//!   `RENAME_NOREPLACE`, `dup3`.
//! - **macOS**: `fstatat` (its `st_birthtime` in the identity), `renameatx_np`
//!   with `RENAME_EXCL`, no `O_TMPFILE`. `sync_data` is
//!   std's, which on macOS is `fcntl(F_FULLFSYNC)`: plain `fsync` there
//!   leaves the data in the drive's cache.
//! - **FreeBSD and other BSDs**: `fstatat` (`st_birthtime` in the
//!   identity where the system has it); a rename that must not replace
//!   is a `linkat` then `unlinkat` for a file, and for a directory a
//!   placeholder `mkdirat` then a `renameat` over it (a directory may replace
//!   an empty one); no `O_TMPFILE`.
//!
//! Files: this one (identities, directories, creating), [`tree`] (every
//! removal), [`rename`], [`lock`] (session locks), [`process`] (open files,
//! forks, `atexit`), [`signals`].
//!
//! Mount check: Linux compares the mount id (`STATX_MNT_ID`), which also
//! sees bind mounts of the same file system; elsewhere the device number,
//! which does not see a bind (`nullfs`) mount of the same file system.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

mod chosen;
mod lock;
mod process;
mod rename;
mod signals;
mod tree;

pub(crate) use self::chosen::{create_dir_with, create_file_with, identify, reopen_file};
pub(crate) use self::lock::{age_of, create_lock, open_again, probe_lock, remove_lock, LockFile};
#[cfg(all(test, tempreg_loom))]
pub(crate) use self::process::is_open;
pub(crate) use self::process::{
    at_exit, duplicate, fork_generation, revoke, sync_data, watch_forks, RawFile,
};
pub(crate) use self::rename::{move_file, rename_in, Target};
pub(crate) use self::signals::{
    default_action_switch, die_by, is_catchable_signal, signal_name, SignalCloser, SignalListener,
    CLEANUP_SIGNALS, HANGUP, QUIT, STOP_SIGNALS,
};
pub(crate) use self::tree::{clear_dir, measure, remove_dir, remove_file, Listing};

/// A handle a child process inherits across exec.
pub(crate) type Inheritable = OwnedFd;

/// The environment variables that name a program's temp directory.
pub(crate) const TEMP_DIR_VARS: &[&str] = &["TMPDIR"];

/// The bytes a part of a file name may not hold (a separator, NUL), and
/// how a message names them.
pub(crate) const NOT_IN_A_NAME: (&[u8], &str) = (b"/\0", "`/` or a NUL byte");

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
    pub(super) dev: u64,
    pub(super) ino: u64,
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
pub(super) struct Meta {
    pub(super) kind: FileType,
    pub(super) id: FileId,
    pub(super) size: u64,
    /// The mount it is on: the mount id on Linux, else the device.
    pub(super) mount: u64,
    pub(super) uid: u32,
    pub(super) mode: u32,
}

impl Meta {
    // The field types differ by system (`st_dev` is `i32` on macOS).
    #[allow(clippy::unnecessary_cast)]
    fn from_stat(st: &rustix::fs::Stat) -> Meta {
        let dev = st.st_dev as u64;
        let kind = FileType::from_raw_mode(st.st_mode as _);
        // macOS and FreeBSD record a birth time in `stat` itself (APFS,
        // HFS+, UFS2, ZFS); a file system without one gives 0 or -1.
        #[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
        let born = if st.st_birthtime > 0 {
            (st.st_birthtime as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_birthtime_nsec.max(0) as u64)
        } else {
            0
        };
        #[cfg(not(any(target_vendor = "apple", target_os = "freebsd")))]
        let born = 0;
        Meta {
            kind,
            id: FileId {
                dev,
                ino: st.st_ino as u64,
                born,
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

/// Looks `name` up in `dir` without following a symlink (`""`: `dir`
/// itself). `None` if there is no such name.
pub(super) fn meta_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Meta>> {
    look_up(dir, name, name.is_empty())
}

pub(super) fn meta_of(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    look_up(fd, c"", true)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

/// [`meta_at`] for a name in the form the calls take (`empty`: `dir`
/// itself).
///
/// Inlined, as is [`tree::unlink`], so that a removal's `statx` and
/// `unlinkat` are made in one frame: here the first return after a system
/// call, to a caller that made the call before it, costs about 300 ns (the
/// system call clobbers the return predictor; see `benches/registry.rs`), and
/// a removal that returned between its two calls would pay it twice.
#[inline(always)]
fn look_up<P: rustix::path::Arg + Copy>(
    dir: BorrowedFd<'_>,
    name: P,
    empty: bool,
) -> io::Result<Option<Meta>> {
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
        let flags = if empty {
            AtFlags::EMPTY_PATH
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        match rustix::fs::statx(dir, name, flags | AtFlags::NO_AUTOMOUNT, want) {
            Ok(x) => return Ok(Some(Meta::from_statx(&x))),
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let found = if empty {
        rustix::fs::fstat(dir)
    } else {
        rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
    };
    match found {
        Ok(st) => Ok(Some(Meta::from_stat(&st))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Directories

/// An open directory: an fd, opened `O_DIRECTORY | O_CLOEXEC`.
#[derive(Debug)]
pub(crate) struct Dir {
    pub(super) fd: OwnedFd,
}

pub(super) const DIR_FLAGS: OFlags = OFlags::RDONLY
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

    /// Tells the handle that the directory was renamed to `name` in
    /// `parent`. Nothing to do here: a descriptor follows its directory.
    pub(crate) fn renamed(&mut self, _parent: &Dir, _name: &OsStr) {}

    /// The identity of this directory.
    pub(crate) fn id(&self) -> io::Result<FileId> {
        Ok(meta_of(self.fd.as_fd())?.id)
    }

    /// True if this directory belongs to the user we run as (or we are root).
    pub(crate) fn is_ours(&self) -> io::Result<bool> {
        Ok(is_ours(&meta_of(self.fd.as_fd())?))
    }

    /// Whether `name` in this directory belongs to the user we run as (or we
    /// are root), looked up without opening or following it: another user's
    /// 0700 directory cannot be opened, only looked at. `None` if there is
    /// no such name.
    pub(crate) fn child_is_ours(&self, name: &OsStr) -> io::Result<Option<bool>> {
        Ok(meta_at(self.fd.as_fd(), name)?.map(|meta| is_ours(&meta)))
    }
}

fn is_ours(meta: &Meta) -> bool {
    let euid = rustix::process::geteuid();
    euid.is_root() || meta.uid == euid.as_raw()
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

pub(super) fn list_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
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
// Names

/// A temp entry's file name in the form the system calls take it
/// (NUL-terminated), made once: creating, checking and unlinking the entry
/// then pass it as it is, where an `&OsStr` is copied and scanned for a NUL
/// on every call. Derefs to the name without its NUL (see `sys/mod.rs`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Name(CString);

impl Name {
    /// `prefix`, then `middle` (ASCII), then `suffix`, in one allocation.
    /// `InvalidInput` if that holds a NUL byte.
    pub(crate) fn build(prefix: &OsStr, middle: &[u8], suffix: &OsStr) -> io::Result<Name> {
        let mut bytes = Vec::with_capacity(prefix.len() + middle.len() + suffix.len() + 1);
        bytes.extend_from_slice(prefix.as_bytes());
        bytes.extend_from_slice(middle);
        bytes.extend_from_slice(suffix.as_bytes());
        CString::new(bytes).map(Name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file name cannot hold a NUL byte",
            )
        })
    }

    pub(crate) fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(self.0.as_bytes())
    }

    fn as_c_str(&self) -> &CStr {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Creating

/// Creates the regular file `name` in `dir` (`O_EXCL`, mode 0600) and
/// returns it open for reading and writing, with its identity.
pub(crate) fn create_file(dir: &Dir, name: &Name) -> io::Result<(File, FileId)> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let name = name.as_c_str();
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
