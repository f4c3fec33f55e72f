//! What a purge did: [`PurgeReport`], and each entry it could not clean,
//! [`PurgeFailure`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tracking::cleaner::Outcome;
use crate::tracking::entry::EntryKind;

/// Why one entry was not cleaned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PurgeFailureKind {
    /// The name no longer held the file we created (it was moved away and
    /// replaced, or turned into a symlink); it was left alone, and is no
    /// longer tracked.
    Replaced,
    /// The handle was in use on another thread (blocking purge only); it
    /// stays tracked. A blocking purge also reports so an async handle whose
    /// flush an earlier purge left running: the next `purge_all` waits for
    /// it.
    Busy,
    /// The deadline passed first. The entry stays tracked; a handle's flush
    /// goes on in the background, and the next `purge_all` waits for it (so
    /// that a purge without a deadline leaves nothing running).
    TimedOut,
    /// An I/O error ([`PurgeFailure::io_error`]); the entry stays tracked,
    /// so the next purge, its guard's drop, or the registry's end retries
    /// it.
    Io,
}

/// One entry that a purge could not clean.
#[derive(Debug)]
pub struct PurgeFailure {
    path: PathBuf,
    entry: Option<EntryKind>,
    kind: PurgeFailureKind,
    error: Option<io::Error>,
}

impl PurgeFailure {
    pub(crate) fn new(path: PathBuf, entry: EntryKind, kind: PurgeFailureKind) -> PurgeFailure {
        PurgeFailure {
            path,
            entry: Some(entry),
            kind,
            error: None,
        }
    }

    /// A failure not tied to one entry (removing the session directory).
    pub(crate) fn io(path: PathBuf, error: io::Error) -> PurgeFailure {
        PurgeFailure {
            path,
            entry: None,
            kind: PurgeFailureKind::Io,
            error: Some(error),
        }
    }

    /// The path of the entry.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> PurgeFailureKind {
        self.kind
    }

    /// The kind of entry, if the failure is about one.
    pub fn entry_kind(&self) -> Option<EntryKind> {
        self.entry
    }

    /// The I/O error, for [`PurgeFailureKind::Io`].
    pub fn io_error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}

impl fmt::Display for PurgeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry {
            Some(kind) => write!(f, "{kind} `{}`: ", self.path.display())?,
            None => write!(f, "`{}`: ", self.path.display())?,
        }
        match (self.kind, &self.error) {
            (PurgeFailureKind::Replaced, _) => {
                f.write_str("replaced by another file or a symlink; left alone")
            }
            (PurgeFailureKind::Busy, _) => {
                f.write_str("busy (in use on another thread); still tracked")
            }
            (PurgeFailureKind::TimedOut, _) => {
                f.write_str("timed out; still tracked or finishing in the background")
            }
            (PurgeFailureKind::Io, Some(e)) => write!(f, "{e}; still tracked"),
            (PurgeFailureKind::Io, None) => f.write_str("I/O error; still tracked"),
        }
    }
}

/// What a purge did: counts, failures and time taken.
#[derive(Debug, Default)]
#[must_use = "a purge report says what could not be cleaned"]
pub struct PurgeReport {
    removed: usize,
    closed: usize,
    gone: usize,
    failures: Vec<PurgeFailure>,
    pub(crate) elapsed: Duration,
}

impl PurgeReport {
    /// Temp files and dirs removed (an async temp file counts here too).
    pub fn removed(&self) -> usize {
        self.removed
    }

    /// Handles flushed and closed.
    pub fn closed(&self) -> usize {
        self.closed
    }

    /// Temp paths that were already gone (removed by someone else).
    pub fn already_gone(&self) -> usize {
        self.gone
    }

    /// What could not be cleaned, and why.
    pub fn failures(&self) -> &[PurgeFailure] {
        &self.failures
    }

    /// True if nothing failed.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
    }

    /// How long the purge took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    pub(crate) fn push_failure(&mut self, failure: PurgeFailure) {
        tracing::warn!(%failure, "tempreg purge could not clean an entry");
        self.failures.push(failure);
    }

    /// Adds another report's counts and failures to this one.
    pub fn merge(&mut self, other: PurgeReport) {
        self.removed += other.removed;
        self.closed += other.closed;
        self.gone += other.gone;
        self.failures.extend(other.failures);
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Counts one entry's outcome; `path` names it if it failed.
    pub(crate) fn tally(
        &mut self,
        outcome: Outcome,
        kind: EntryKind,
        path: impl FnOnce() -> PathBuf,
    ) {
        let failure = |k| PurgeFailure::new(path(), kind, k);
        match outcome {
            Outcome::Removed => self.removed += 1,
            Outcome::Gone => self.gone += 1,
            Outcome::Closed { removed, gone } => {
                self.closed += 1;
                self.removed += usize::from(removed);
                self.gone += usize::from(gone);
            }
            Outcome::Replaced => self.push_failure(failure(PurgeFailureKind::Replaced)),
            Outcome::Busy => self.push_failure(failure(PurgeFailureKind::Busy)),
            Outcome::TimedOut => self.push_failure(failure(PurgeFailureKind::TimedOut)),
            Outcome::Failed(error) => {
                let mut f = failure(PurgeFailureKind::Io);
                f.error = Some(error);
                self.push_failure(f);
            }
        }
    }
}

impl fmt::Display for PurgeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "removed {} temp path(s), closed {} handle(s)",
            self.removed, self.closed
        )?;
        if self.gone > 0 {
            write!(f, ", {} already gone", self.gone)?;
        }
        write!(f, " in {:.1?}", self.elapsed)?;
        if self.failures.is_empty() {
            f.write_str("; clean")
        } else {
            write!(f, "; {} failure(s):", self.failures.len())?;
            for failure in &self.failures {
                write!(f, "\n  {failure}")?;
            }
            Ok(())
        }
    }
}
