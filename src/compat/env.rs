//! `tempfile::env`: the default directory for temp files, and its override.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static DEFAULT_TEMPDIR: OnceLock<PathBuf> = OnceLock::new();

/// Overrides the default temp directory (from [`temp_dir`]), once per
/// process, as `tempfile::env::override_temp_dir`: the registry the
/// default constructors use is then made there.
///
/// # Errors
///
/// If it was overridden already: the directory it was set to.
pub fn override_temp_dir(path: &Path) -> Result<(), PathBuf> {
    let mut we_set = false;
    let set = DEFAULT_TEMPDIR.get_or_init(|| {
        we_set = true;
        path.to_path_buf()
    });
    if we_set {
        Ok(())
    } else {
        Err(set.clone())
    }
}

/// The default temp directory: the one given to [`override_temp_dir`], or
/// else [`std::env::temp_dir`] (read each time, as `tempfile` does). Temp
/// files and directories of the default constructors are made in the
/// session directory of its process-wide registry, one level below it.
pub fn temp_dir() -> PathBuf {
    DEFAULT_TEMPDIR
        .get()
        .cloned()
        .unwrap_or_else(std::env::temp_dir)
}
