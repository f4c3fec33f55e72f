//! The reserve: async temp files made ahead of demand.
//!
//! Making a file from async code takes a round trip to tokio's blocking pool
//! (a thread wake-up each way), which costs more than the file itself. So
//! once a registry has made [`WARMUP`] async temp files, it keeps some ready
//! (`RegistryBuilder::async_reserve`, 0 turns it off): `temp_file_async`
//! (with default naming) takes one without leaving the async thread, and a
//! blocking job tops the reserve up in batches.
//!
//! Reserve files are ordinary temp files of the session (0600, `O_EXCL`,
//! identity recorded), just not handed out yet: they are not entries, a
//! purge removes them (through the cleaner's [`remove_name`]) without
//! counting them, and the session's removal takes them like everything
//! else.
//!
//! The footprint is small and goes when demand stops: at most
//! [`DEFAULT_SIZE`] files (each an fd and an empty file in the session
//! directory) while async temp files are being made, none once no one has
//! taken one for [`IDLE`] (a trimmer task on the runtime gives them back).
//!
//! # Invariants
//!
//! - At most one refill runs (`refilling`, set and cleared under the lock).
//! - A refill holds the registry weakly, and lets go of it before it says it
//!   is done, as the reaper does; it makes nothing on a closed registry.
//! - A purge waits for a running refill before it takes the reserve, so that
//!   no reserve file appears after it.
//! - At most one trimmer runs (`trimming`); it holds the registry weakly and
//!   takes the files only when no refill runs and none was taken for `IDLE`.
//! - Files the trimmer took are `discarding` until it has removed them, and
//!   a purge waits for that as for a refill: files it took out of the
//!   reserve just before the purge came are gone when the purge returns.
//! - The mutex is held only to push, pop or take, never during I/O and never
//!   with another lock.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::cleaner::remove_name;
use super::core::{Core, WeakCore};
use super::entry::{EntryKind, TrackedName};
use super::naming::NameSpec;
use crate::loom::{Mutex, MutexGuard};
use crate::session::Session;

/// How many async temp files a registry makes before it keeps a reserve, so
/// that a registry used lightly never holds files nobody asked for.
pub(crate) const WARMUP: usize = 16;

/// The default size of the reserve: enough to keep a busy service off the
/// blocking pool, few enough fds to count for nothing against a limit.
pub(crate) const DEFAULT_SIZE: usize = 8;

/// How long the reserve waits, with no file taken, before it gives its files
/// back.
pub(crate) const IDLE: Duration = Duration::from_secs(2);

/// The largest reserve a builder accepts.
pub(crate) const MAX_SIZE: usize = 1024;

/// A file made ahead of demand.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) file: File,
    pub(crate) name: TrackedName,
}

/// The files on hand and whether a refill runs: the reserve's protocol,
/// generic so that it can be model-checked alone (`tracking::models`).
#[derive(Debug)]
pub(crate) struct Stock<T> {
    state: Mutex<StockState<T>>,
    /// Refill up to this many; 0 turns the reserve off.
    size: usize,
}

#[derive(Debug)]
struct StockState<T> {
    files: Vec<T>,
    refilling: bool,
    /// Files asked for so far (up to `WARMUP`).
    asked: usize,
    /// When a file was last taken (or asked for).
    last_take: Option<Instant>,
    /// A trimmer is waiting for demand to stop.
    trimming: bool,
    /// The trimmer took files and is removing them.
    discarding: bool,
}

/// What a trimmer finds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Trim<T> {
    /// Demand stopped: these files go back.
    Idle(Vec<T>),
    /// A file was taken (or a refill runs) within `IDLE`: wait again.
    Busy,
}

impl<T> Stock<T> {
    pub(crate) fn new(size: usize) -> Stock<T> {
        Stock {
            state: Mutex::new(StockState {
                files: Vec::new(),
                refilling: false,
                asked: 0,
                last_take: None,
                trimming: false,
                discarding: false,
            }),
            size,
        }
    }

    fn lock(&self) -> MutexGuard<'_, StockState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a file if one is on hand (after the warm-up), and says whether
    /// the caller must start a refill (running low, none running, and
    /// `may_refill`).
    pub(crate) fn take(&self, may_refill: bool) -> (Option<T>, bool) {
        if self.size == 0 {
            return (None, false);
        }
        let mut state = self.lock();
        state.last_take = Some(Instant::now());
        if state.asked < WARMUP {
            state.asked += 1;
            return (None, false);
        }
        let file = state.files.pop();
        let low = state.files.len() < self.size.div_ceil(4);
        let refill = low && !state.refilling && may_refill;
        if refill {
            state.refilling = true;
        }
        (file, refill)
    }

    /// How many files a refill should make.
    pub(crate) fn wanted(&self) -> usize {
        self.size.saturating_sub(self.lock().files.len())
    }

    /// Ends a refill with what it made.
    pub(crate) fn finish(&self, made: Vec<T>) {
        let mut state = self.lock();
        state.files.extend(made);
        state.refilling = false;
    }

    /// Every file on hand, unless a refill runs or the trimmer is removing
    /// what it took (then `None`: wait for it).
    pub(crate) fn take_all_if_idle(&self) -> Option<Vec<T>> {
        let mut state = self.lock();
        (!state.refilling && !state.discarding).then(|| std::mem::take(&mut state.files))
    }

    /// Every file on hand now (a refill running may add more later).
    pub(crate) fn take_all_now(&self) -> Vec<T> {
        std::mem::take(&mut self.lock().files)
    }

    /// True if the caller must start a trimmer (none runs yet).
    pub(crate) fn start_trimming(&self) -> bool {
        !std::mem::replace(&mut self.lock().trimming, true)
    }

    /// For the trimmer: the files, once no one took one for `idle` and no
    /// refill runs (the trimmer then ends, and until then they count as
    /// being discarded); else [`Trim::Busy`].
    pub(crate) fn trim_if_idle(&self, idle: Duration) -> Trim<T> {
        let mut state = self.lock();
        let quiet = state.last_take.is_none_or(|at| at.elapsed() >= idle);
        if !quiet || state.refilling {
            return Trim::Busy;
        }
        let files = std::mem::take(&mut state.files);
        state.discarding = !files.is_empty();
        Trim::Idle(files)
    }

    /// The trimmer ended, its files removed (or its runtime dropped it): the
    /// next refill may start another, and a purge need not wait.
    pub(crate) fn stop_trimming(&self) {
        let mut state = self.lock();
        state.trimming = false;
        state.discarding = false;
    }
}

/// One per registry; empty until `WARMUP` async temp files were asked for.
#[derive(Debug)]
pub(crate) struct Reserve {
    stock: Stock<Ready>,
    refilled: tokio::sync::Notify,
}

/// The refill job; if the runtime drops it unrun, it only clears the flag.
struct Refill {
    core: WeakCore,
    reserve: Arc<Reserve>,
    ran: bool,
}

impl Refill {
    fn run(mut self) {
        self.ran = true;
        let made = match self.core.upgrade() {
            Some(core) => {
                let want = self.reserve.stock.wanted();
                let mut made = Vec::with_capacity(want);
                for _ in 0..want {
                    if core.table.is_closed() {
                        break;
                    }
                    match NameSpec::default().create_file(&core.session) {
                        Ok((file, name)) => made.push(Ready { file, name }),
                        Err(e) => {
                            tracing::debug!(error = %e, "tempreg reserve refill stopped");
                            break;
                        }
                    }
                }
                // Let go before saying done (see the module docs).
                drop(core);
                made
            }
            None => Vec::new(),
        };
        self.reserve.finish(made);
    }
}

impl Drop for Refill {
    fn drop(&mut self) {
        if !self.ran {
            self.reserve.finish(Vec::new());
        }
    }
}

impl Reserve {
    pub(crate) fn new(size: usize) -> Reserve {
        Reserve {
            stock: Stock::new(size),
            refilled: tokio::sync::Notify::new(),
        }
    }

    fn finish(&self, made: Vec<Ready>) {
        self.stock.finish(made);
        self.refilled.notify_waiters();
    }

    /// Takes a ready file, and starts a refill when running low. `None`
    /// when none is ready (the caller makes one itself). Only in the
    /// process that made the registry: a forked child must not hand out its
    /// parent's files.
    pub(crate) fn take(core: &Arc<Core>) -> Option<Ready> {
        if !core.is_creator() {
            return None;
        }
        let reserve = &core.reserve;
        let (ready, refill) = reserve.stock.take(!core.table.is_closed());
        if refill && reserve.stock.start_trimming() {
            Reserve::start_trimmer(core);
        }
        if refill {
            let job = Refill {
                core: WeakCore::new(core),
                reserve: Arc::clone(reserve),
                ran: false,
            };
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    // If no thread can be started, the job's Drop clears the flag.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                        runtime.spawn_blocking(move || job.run());
                    }));
                }
                Err(_) => drop(job),
            }
        }
        ready
    }

    /// Starts the task that gives the files back once demand stops. On no
    /// runtime, none: the files then wait for a purge or the registry's end.
    fn start_trimmer(core: &Arc<Core>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        /// Clears the flags however the task ends, and wakes a purge
        /// waiting for its removals.
        struct Trimmer(Arc<Reserve>);
        impl Drop for Trimmer {
            fn drop(&mut self) {
                self.0.stock.stop_trimming();
                self.0.refilled.notify_waiters();
            }
        }
        let (weak, trimmer) = (WeakCore::new(core), Trimmer(Arc::clone(&core.reserve)));
        runtime.spawn(async move {
            let reserve = &trimmer.0;
            loop {
                tokio::time::sleep(IDLE).await;
                if let Trim::Idle(files) = reserve.stock.trim_if_idle(IDLE) {
                    if let (Some(core), false) = (weak.upgrade(), files.is_empty()) {
                        let _ = tokio::task::spawn_blocking(move || discard(&core.session, files))
                            .await;
                    }
                    return;
                }
            }
        });
    }

    /// Waits for a running refill (and the trimmer's removals), then takes
    /// every ready file.
    pub(crate) async fn take_all(&self) -> Vec<Ready> {
        loop {
            let notified = self.refilled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(files) = self.stock.take_all_if_idle() {
                return files;
            }
            notified.await;
        }
    }

    /// Takes every ready file now (a refill running may add more later).
    pub(crate) fn take_all_now(&self) -> Vec<Ready> {
        self.stock.take_all_now()
    }
}

/// Removes taken reserve files (identity-checked), closing their fds.
pub(crate) fn discard(session: &Session, ready: Vec<Ready>) {
    for Ready { file, name } in ready {
        if let Err(e) = remove_name(session, EntryKind::TempFile, &name, None) {
            tracing::debug!(error = %e, name = ?name.name, "tempreg could not remove a reserve file");
        }
        drop(file);
    }
}
