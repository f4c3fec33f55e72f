//! The process-wide registry, for test harnesses and small programs that do
//! not want to pass a registry around: [`global`], and the shorthands
//! [`temp_file`] and [`temp_dir`].
//!
//! # Invariants
//!
//! - One registry per root directory, made on first use and shared: the
//!   default root's ([`global`], and `compat`'s default) is kept for the
//!   life of the process (a `static`); another root's is held weakly, for
//!   as long as a guard of it lives, so that a program making temp files in
//!   many directories (a test suite's per-test roots) keeps no session, and
//!   no fd, per directory it is done with. Each is registered with the exit
//!   hook and the panic hook, so its session goes when the process exits
//!   (or aborts on a panic), and the root is swept of dead sessions of its
//!   own prefix when one is made.
//! - The mutex is held only to find or make a root's registry; making one
//!   (a directory, a lock, a sweep of the root) happens under it, so that
//!   two threads asking at once get the same registry: never held anywhere
//!   else, never with another lock of ours.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::registry::WeakRegistry;
use crate::session::format::DEFAULT_PREFIX;
use crate::session::{sweep_orphans_with, SweepOptions};
use crate::{ResourceRegistry, TempDir, TempFile};

/// How the process holds a root's registry.
enum Held {
    /// For the process's life.
    Kept(ResourceRegistry),
    /// While its guards live.
    Shared(WeakRegistry),
}

impl Held {
    fn get(&self) -> Option<ResourceRegistry> {
        match self {
            Held::Kept(registry) => Some(registry.clone()),
            Held::Shared(weak) => weak.upgrade(),
        }
    }
}

fn registries() -> &'static Mutex<HashMap<PathBuf, Held>> {
    static REGISTRIES: OnceLock<Mutex<HashMap<PathBuf, Held>>> = OnceLock::new();
    REGISTRIES.get_or_init(Mutex::default)
}

/// The process-wide registry of `root`, made on first use and kept for the
/// life of the process.
pub(crate) fn kept_registry_in(root: &Path) -> io::Result<ResourceRegistry> {
    registry(root, true)
}

/// The process-wide registry of `root`, made on first use and shared while
/// any of its guards lives (then made anew on the next use).
pub(crate) fn registry_in(root: &Path) -> io::Result<ResourceRegistry> {
    registry(root, false)
}

fn registry(root: &Path, kept: bool) -> io::Result<ResourceRegistry> {
    let root = std::path::absolute(root)?;
    let mut registries = registries().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(registry) = registries.get(&root).and_then(Held::get) {
        if kept && !matches!(registries.get(&root), Some(Held::Kept(_))) {
            registries.insert(root, Held::Kept(registry.clone()));
        }
        return Ok(registry);
    }
    let swept = sweep_orphans_with(&root, &SweepOptions::new().prefix(DEFAULT_PREFIX));
    match swept {
        Ok(report) if !report.removed().is_empty() => {
            tracing::info!(%report, "tempreg swept what dead processes left")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "tempreg could not sweep the root"),
    }
    let registry = ResourceRegistry::builder().root(&root).build()?;
    registry.install_panic_hook();
    // Roots done with must not grow the map for ever.
    if registries.len() >= 64 && registries.len().is_power_of_two() {
        registries.retain(|_, held| match held {
            Held::Kept(_) => true,
            Held::Shared(weak) => weak.is_alive(),
        });
    }
    let held = if kept {
        Held::Kept(registry.clone())
    } else {
        Held::Shared(registry.weak())
    };
    registries.insert(root, held);
    Ok(registry)
}

/// Forgets `registry` as `root`'s, if it is (its session directory was
/// removed from under it): the next use makes a new one.
pub(crate) fn forget(root: &Path, registry: &ResourceRegistry) {
    let Ok(root) = std::path::absolute(root) else {
        return;
    };
    let mut registries = registries().lock().unwrap_or_else(|p| p.into_inner());
    let same = match registries.get(&root) {
        Some(Held::Kept(kept)) => kept.weak().is(registry),
        Some(Held::Shared(weak)) => weak.is(registry),
        None => false,
    };
    if same {
        registries.remove(&root);
    }
}

/// The process-wide registry, in [`std::env::temp_dir`], made on first use
/// from any thread: its session directory goes when the process exits (the
/// exit hook), ends by a panic that escapes `main` or aborts (the panic
/// hook), and what a killed process left is swept the next time any process
/// makes it. For test harnesses and small programs; a service that wants
/// signals handled too adds it to a [`Shutdown`](crate::Shutdown) or
/// [`cleanup_on_signals`](crate::cleanup_on_signals).
///
/// The registry lives until the process ends: files whose guards are
/// dropped go at once, the rest at exit. Tests of one `cargo test` binary
/// share it (each guard is still its own), and each process of
/// `cargo nextest` has its own.
///
/// # Errors
///
/// If the session directory cannot be made (the next call tries again).
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let mut scratch = tempreg::global()?.temp_file()?;
/// scratch.write_all(b"per-test scratch")?;
/// // Or the shorthand:
/// let dir = tempreg::temp_dir()?;
/// assert!(dir.path().starts_with(std::env::temp_dir()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn global() -> io::Result<ResourceRegistry> {
    kept_registry_in(&std::env::temp_dir())
}

/// A temp file of the process-wide registry ([`global`]).
///
/// # Errors
///
/// As [`global`] and [`ResourceRegistry::temp_file`].
pub fn temp_file() -> io::Result<TempFile> {
    global()?.temp_file()
}

/// A temp directory of the process-wide registry ([`global`]).
///
/// # Errors
///
/// As [`global`] and [`ResourceRegistry::temp_dir`].
pub fn temp_dir() -> io::Result<TempDir> {
    global()?.temp_dir()
}
