//! `tempfile`'s API, backed by tempreg's registries: the migration is one
//! line.
//!
//! ```
//! use tempreg::compat as tempfile;
//!
//! use std::io::Write;
//! let mut file = tempfile::NamedTempFile::new()?;
//! writeln!(file, "scratch")?;
//! let dir = tempfile::tempdir()?;
//! let unnamed = tempfile::tempfile()?;
//! # drop((file, dir, unnamed));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Every name of `tempfile` 3.27 is here, with its signature: [`NamedTempFile`]
//! (generic over its file, `NamedTempFile<F = File>`), [`TempPath`],
//! [`TempDir`], [`Builder`], [`tempfile()`], [`tempfile_in`], [`tempdir`],
//! [`tempdir_in`], [`SpooledTempFile`], [`spooled_tempfile`],
//! [`spooled_tempfile_in`], [`SpooledData`], [`env::temp_dir`],
//! [`env::override_temp_dir`], [`PersistError`], [`PathPersistError`]; the
//! same trait impls (`Read`/`Write`/`Seek` for `&NamedTempFile`, `AsFd`,
//! `AsRawFd`, `AsRef<Path>`, `Deref` for `TempPath`, the errors'
//! conversions into `io::Error` and back into their guard); the guards are
//! `Send`, `Sync` and unwind safe as `tempfile`'s are. `tempfile` 3.27's own
//! test suite runs against this module in CI (`.ci/tempfile-tests.sh`).
//!
//! # What the switch gains
//!
//! A temp file or directory is made in the session directory of the
//! process-wide registry ([`global`](crate::global())) of the directory it is
//! made for (`env::temp_dir()` by default). So, with no other change:
//!
//! - **exit** (`std::process::exit`, a return from `main` with a guard in a
//!   `static`) and **a panic that ends the process** (one escaping `main`,
//!   or any panic under `panic = "abort"`) remove every live temp file and
//!   directory: each registry is registered with the exit hook and the
//!   panic hook;
//! - **SIGKILL, the OOM killer, a power cut**: what the process left is one
//!   session directory, which the next process that makes a registry in
//!   that directory sweeps (its lock tells a dead owner from a live one), as
//!   does `tempreg sweep`;
//! - **signals**, with one more line in `main`, since a library must not
//!   install signal handlers on its own:
//!   `let _cleanup = tempreg::cleanup_on_signals(&tempreg::compat::registry()?)?;`
//!   purges the default directory's registry on SIGTERM, SIGINT, SIGHUP and
//!   SIGQUIT, then dies by the signal (a registry of another directory can
//!   be added with [`SignalCleanup::add`](crate::SignalCleanup::add));
//! - every removal is identity-checked: dropping a guard never deletes a
//!   file that replaced ours at its name.
//!
//! # What differs, and why
//!
//! | what | `tempfile` | `tempreg::compat` | why | what to do |
//! |---|---|---|---|---|
//! | where a named file or directory lives | `dir/.tmpXXXXXX` | `dir/tempreg-<pid>-<random>/.tmpXXXXXX`: one level down, in the registry's private (0700) session directory | a directory whose lock tells a sweep whether its owner lives is what makes the clean-up after SIGKILL safe | use `path()`; never assume `path().parent() == dir`; look one level down when listing `dir`. [`tempfile()`] and [`tempfile_in`] are unnamed, made directly in `dir`, as before |
//! | `keep()` (on [`NamedTempFile`], [`TempPath`], [`TempDir`]) | disables clean-up; the path stays | moves the file or directory out of the session directory into `dir`, under the same name if free there (else with `-` and 6 random characters), and returns the new path | the session directory is removed when the process ends, with whatever is still in it | use the path `keep` returns. (If the move fails, `TempDir::keep` leaves the directory in place with clean-up disabled, and returns that path) |
//! | a name replaced by another file (or a symlink) | drop and `close` delete whatever is at the path | left alone; `close` returns an error for which [`is_replaced_error`](crate::is_replaced_error) is true | never delete what we did not create: the name is checked against the device, inode, type and birth time recorded when it was made | nothing. If you replace a temp file on purpose, persist it instead, or remove the new file yourself |
//! | [`TempPath::from_path`] / [`try_from_path`](TempPath::try_from_path) where no file is (or a directory) | deletes whatever is at the path when dropped | adopts nothing: dropping it deletes nothing, `close` and `persist` return `NotFound` | the identity is recorded at adoption, and there is none to record | adopt a path once its file exists |
//! | `disable_cleanup(true)` | the file stays | the file stays where it is, and the session directory around it is kept when the process ends (its lock marked kept: no sweep removes it), unless the file is gone by then | removing the session directory would remove the file | prefer `keep`; remove what you left (`tempreg ls` lists kept sessions) |
//! | a `/` (or NUL) in a prefix or suffix | "legal but not advisable" | `InvalidInput` | a name is one path component inside the session directory | pass the directory to `*_in` |
//! | a temp directory's default permissions | 0777 less the umask (usually 0755) | 0700 | nobody else needs to enter it, and the session directory is 0700 anyway | [`Builder::permissions`] |
//! | [`Builder::make`]'s closure | may leave nothing at the path | must make something there (else `NotFound`) | what it made is recorded, to be removed by identity | create the socket, FIFO or file in the closure |
//! | a purge, or the process's end | (nothing runs) | names are removed; a `NamedTempFile`'s open handle stays open until dropped, as with `tempfile`; [`SpooledTempFile`]'s memory is freed and its file closed | the registry tracks names; an `F` of any type cannot be closed from outside | drop guards before a purge, or use [`crate::TempFile`], whose handle a purge closes |
//!
//! `close()` of a file that is already gone returns `NotFound`, as
//! `tempfile`'s does (tempreg's own guards too).
//!
//! # Resource leaking
//!
//! As tempreg's guards (see the crate docs' *What can still leak*): nothing
//! runs on SIGKILL, and the session directory waits for the next sweep of
//! its directory; an adopted path outside every session directory is not
//! swept. A file of [`tempfile()`] has no name where the system can make
//! unnamed files, so the kernel frees it however the process ends.

mod builder;
mod dir;
pub mod env;
mod file;
mod spooled;

use std::io;
use std::path::Path;

pub use self::builder::Builder;
pub use self::dir::{tempdir, tempdir_in, TempDir};
pub use self::file::{
    tempfile, tempfile_in, NamedTempFile, PathPersistError, PersistError, TempPath,
};
pub use self::spooled::{spooled_tempfile, spooled_tempfile_in, SpooledTempFile};
pub use crate::guard::SpooledData;

use crate::global::{forget, kept_registry_in, registry_in};
use crate::ResourceRegistry;

/// The process-wide registry of the default directory
/// ([`env::temp_dir`]), which the default constructors use: to pass to
/// [`cleanup_on_signals`](crate::cleanup_on_signals) or a
/// [`Shutdown`](crate::Shutdown), or to purge it between test cases.
///
/// # Errors
///
/// If its session directory cannot be made.
pub fn registry() -> io::Result<ResourceRegistry> {
    default_registry()
}

fn default_registry() -> io::Result<ResourceRegistry> {
    kept_registry_in(&env::temp_dir())
}

/// The registry for temp entries in `dir`: the default directory's is kept
/// for the life of the process, another's shared while its guards live.
fn registry_for(dir: &Path) -> io::Result<ResourceRegistry> {
    let default = env::temp_dir();
    let same = |a: &Path, b: &Path| std::path::absolute(a).ok() == std::path::absolute(b).ok();
    if same(dir, &default) {
        kept_registry_in(dir)
    } else {
        registry_in(dir)
    }
}

/// Runs `make` with `dir`'s registry; once more with a new registry if the
/// session directory of the one it had was removed from under it (`dir`
/// itself removed and made again, as a test suite's scratch roots are).
fn with_registry<T>(
    dir: &Path,
    mut make: impl FnMut(&ResourceRegistry) -> io::Result<T>,
) -> io::Result<T> {
    let registry = registry_for(dir)?;
    match make(&registry) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && !registry.session_dir().is_dir() => {
            forget(dir, &registry);
            drop(registry);
            make(&registry_for(dir)?)
        }
        made => made,
    }
}
