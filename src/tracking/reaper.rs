//! The reaper: clean-ups of async guards dropped on a runtime, batched onto
//! tokio's blocking pool.
//!
//! A guard's Drop must not block the executor, so an async temp file
//! dropped on a runtime hands its entry here. Entries queue up in a
//! [`Backlog`], and one blocking job at a time works through it: under load
//! many drops share one hand-off to the pool instead of paying one each.
//!
//! # Invariants
//!
//! - The backlog's `pending` counts entries queued or being cleaned; it
//!   returns to zero only when all of them are done, and
//!   [`settle`](Reaper::settle) (used by `purge_all`) waits for that.
//! - At most one job runs: `running` is set by whoever queues onto an idle
//!   backlog and cleared by the job when it finds the backlog empty, both
//!   under the lock, so no entry is left queued with no job to run it
//!   (model-checked: `tracking::models`).
//! - If the runtime drops the job without running it (it is shutting
//!   down), the job's Drop works through the backlog on that thread: a
//!   clean-up is never lost.
//! - The job holds the registry weakly and lets go of it before it says a
//!   batch is done, so that when `purge_all` returns no thread of ours still
//!   keeps the registry (and its session directory) alive. If the registry
//!   is gone, its session directory was removed with everything in it, and
//!   queued entries are simply dropped.
//! - A clean-up that fails puts its entry back into the table.
//! - The mutex is held only to push or to take a batch, never while
//!   cleaning and never with another lock.

use std::sync::Arc;

use super::cleaner::{clean_now, By};
use super::core::{Core, WeakCore};
use super::entry::Entry;
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::{Mutex, MutexGuard};

/// A queue worked through by at most one job at a time (see the module
/// docs); generic so that its protocol can be model-checked alone.
#[derive(Debug)]
pub(crate) struct Backlog<T> {
    queue: Mutex<(Vec<T>, bool)>,
    pending: AtomicUsize,
}

impl<T> Default for Backlog<T> {
    fn default() -> Self {
        Backlog {
            queue: Mutex::new((Vec::new(), false)),
            pending: AtomicUsize::new(0),
        }
    }
}

impl<T> Backlog<T> {
    fn lock(&self) -> MutexGuard<'_, (Vec<T>, bool)> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `item`; true if the caller must start a job (none runs).
    pub(crate) fn push(&self, item: T) -> bool {
        self.pending.fetch_add(1, Ordering::AcqRel);
        let mut queue = self.lock();
        queue.0.push(item);
        !std::mem::replace(&mut queue.1, true)
    }

    /// The next batch for the running job; `None` (and the job must stop)
    /// once the backlog is empty.
    pub(crate) fn next_batch(&self) -> Option<Vec<T>> {
        let mut queue = self.lock();
        if queue.0.is_empty() {
            queue.1 = false;
            None
        } else {
            Some(std::mem::take(&mut queue.0))
        }
    }

    /// Marks `n` items done; true if none is pending any more.
    pub(crate) fn done(&self, n: usize) -> bool {
        self.pending.fetch_sub(n, Ordering::AcqRel) == n
    }

    /// Items queued or being worked on.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }
}

/// Batches background clean-ups; one per registry.
#[derive(Debug, Default)]
pub(crate) struct Reaper {
    backlog: Backlog<(u64, Entry)>,
    done: tokio::sync::Notify,
}

/// The job; it works in its Drop, whether or not the runtime runs it.
struct Job {
    core: WeakCore,
    reaper: Arc<Reaper>,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.reaper.run(&self.core);
    }
}

impl Reaper {
    /// Cleans the claimed entry `id` off the async thread when on a runtime,
    /// else here.
    pub(crate) fn submit(core: &Arc<Core>, id: u64, entry: Entry) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            let outcome = clean_now(&core.session, &entry, By::Purge, false, None);
            core.settle_outcome(id, entry, &outcome);
            return;
        };
        let reaper = &core.reaper;
        if reaper.backlog.push((id, entry)) {
            let job = Job {
                core: WeakCore::new(core),
                reaper: Arc::clone(reaper),
            };
            // spawn_blocking panics only when no thread can be started; the
            // job then works in its Drop during the unwind, caught here.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                runtime.spawn_blocking(move || drop(job));
            }));
        }
    }

    fn run(&self, core: &WeakCore) {
        while let Some(batch) = self.backlog.next_batch() {
            let n = batch.len();
            if let Some(core) = core.upgrade() {
                for (id, entry) in batch {
                    let outcome = clean_now(&core.session, &entry, By::Purge, false, None);
                    core.settle_outcome(id, entry, &outcome);
                }
                // Let go before saying done (see the module docs).
                drop(core);
            }
            if self.backlog.done(n) {
                self.done.notify_waiters();
            }
        }
    }

    /// Waits until every submitted clean-up is done.
    pub(crate) async fn settle(&self) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.backlog.pending() == 0 {
                return;
            }
            notified.await;
        }
    }
}
