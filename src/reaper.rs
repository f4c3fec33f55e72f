//! The reaper: clean-ups of guards dropped on an async runtime, batched onto
//! tokio's blocking pool.
//!
//! A guard's Drop must not block the executor, so an async temp file dropped
//! on a runtime hands its entry here. Entries queue up, and one blocking task
//! at a time drains the queue: under load many drops share one hand-off to
//! the pool instead of paying one each.
//!
//! # Invariants
//!
//! - `pending` counts entries queued or being cleaned; it returns to zero
//!   only when all of them are done, and `settle` (used by `purge_all`)
//!   waits for that.
//! - At most one drain task runs: `running` is set by whoever queues onto an
//!   idle reaper and cleared by the drain task when it finds the queue empty,
//!   both under the lock, so no entry is left queued with no task to run it.
//! - If the runtime drops the drain task without running it (it is shutting
//!   down), the task's Drop drains the queue on that thread: a clean-up is
//!   never lost.
//! - The drain task holds the registry weakly and lets go of it before it
//!   says a batch is done, so that when `purge_all` returns no thread of
//!   ours still keeps the registry (and its session directory) alive. If
//!   the registry is gone, its session directory was removed with
//!   everything in it, and the queued entries are simply dropped.
//! - The mutex is held only to push or to take the queue, never while
//!   cleaning and never with another lock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::entry::Entry;
use crate::registry::Inner;

#[derive(Debug, Default)]
struct Queue {
    entries: Vec<Entry>,
    running: bool,
}

/// Batches background clean-ups; one per registry.
#[derive(Debug, Default)]
pub(crate) struct Reaper {
    queue: Mutex<Queue>,
    pending: AtomicUsize,
    done: tokio::sync::Notify,
}

/// The drain task; draining happens in its Drop, whether or not it runs.
struct Drain {
    registry: Weak<Inner>,
    reaper: Arc<Reaper>,
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.reaper.drain(&self.registry);
    }
}

impl Reaper {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cleans `entry` off the async thread when on a runtime, else here.
    pub(crate) fn submit(inner: &Arc<Inner>, entry: Entry) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            crate::purge::clean_quietly(inner, entry);
            return;
        };
        let reaper = &inner.reaper;
        reaper.pending.fetch_add(1, Ordering::AcqRel);
        let start = {
            let mut queue = reaper.lock();
            queue.entries.push(entry);
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let job = Drain {
                registry: Arc::downgrade(inner),
                reaper: Arc::clone(reaper),
            };
            // spawn_blocking panics only when no thread can be started; the
            // job then drains in its Drop during the unwind, caught here.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                runtime.spawn_blocking(move || drop(job));
            }));
        }
    }

    fn drain(&self, registry: &Weak<Inner>) {
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.entries.is_empty() {
                    queue.running = false;
                    return;
                }
                std::mem::take(&mut queue.entries)
            };
            let n = batch.len();
            if let Some(inner) = registry.upgrade() {
                for entry in batch {
                    crate::purge::clean_quietly(&inner, entry);
                }
                // Let go before saying done (see the module docs).
                drop(inner);
            }
            if self.pending.fetch_sub(n, Ordering::AcqRel) == n {
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
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
