//! The reserve: async temp files made ahead of demand.
//!
//! Making a file from async code takes a round trip to tokio's blocking pool
//! (a thread wake-up each way), which costs more than the file itself. So
//! once a registry has made [`WARMUP`] async temp files, it keeps some ready
//! (32 by default, set with `RegistryBuilder::async_reserve`, 0 to turn it
//! off): `temp_file_async` (with default naming) takes one without leaving
//! the async thread, and a blocking task tops the reserve up in batches.
//!
//! Reserve files are ordinary temp files of the session (0600, `O_EXCL`,
//! identity recorded), just not handed out yet: they are not entries, a
//! purge removes them without counting them, and the session's removal
//! takes them like everything else.
//!
//! # Invariants
//!
//! - At most one refill runs (`refilling`, set and cleared under the lock).
//! - A refill holds the registry weakly, and lets go of it before it says it
//!   is done, as the reaper does; it makes nothing on a closed registry.
//! - A purge waits for a running refill before it takes the reserve, so that
//!   no reserve file appears after it.
//! - The mutex is held only to push, pop or take, never during I/O and never
//!   with another lock.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use crate::entry::Named;
use crate::options::NameSpec;
use crate::registry::Inner;

/// How many async temp files a registry makes before it keeps a reserve, so
/// that a registry used lightly never holds files nobody asked for.
pub(crate) const WARMUP: usize = 16;

/// The default size of the reserve.
pub(crate) const DEFAULT_SIZE: usize = 32;

/// A file made ahead of demand.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) named: Named,
}

#[derive(Debug, Default)]
struct State {
    files: Vec<Ready>,
    refilling: bool,
    /// Async temp files asked for so far (up to `WARMUP`).
    asked: usize,
}

/// One per registry; empty until `WARMUP` async temp files were asked for.
#[derive(Debug)]
pub(crate) struct Reserve {
    state: Mutex<State>,
    refilled: tokio::sync::Notify,
    /// Refill up to this many; 0 turns the reserve off.
    size: usize,
}

impl Reserve {
    pub(crate) fn new(size: usize) -> Reserve {
        Reserve {
            state: Mutex::new(State::default()),
            refilled: tokio::sync::Notify::new(),
            size,
        }
    }
}

/// The refill job; if the runtime drops it unrun, it only clears the flag.
struct Refill {
    registry: Weak<Inner>,
    reserve: Arc<Reserve>,
    ran: bool,
}

impl Refill {
    fn run(mut self) {
        self.ran = true;
        let made = match self.registry.upgrade() {
            Some(inner) => {
                let want = self
                    .reserve
                    .size
                    .saturating_sub(self.reserve.lock().files.len());
                let mut made = Vec::with_capacity(want);
                for _ in 0..want {
                    match NameSpec::default().create_raw_file(&inner) {
                        Ok((file, path, named)) => made.push(Ready { file, path, named }),
                        Err(e) => {
                            tracing::debug!(error = %e, "tempreg reserve refill stopped");
                            break;
                        }
                    }
                }
                drop(inner);
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
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, made: Vec<Ready>) {
        {
            let mut state = self.lock();
            state.files.extend(made);
            state.refilling = false;
        }
        self.refilled.notify_waiters();
    }

    /// Takes a ready file, and starts a refill when running low. `None`
    /// when none is ready (the caller makes one itself).
    pub(crate) fn take(inner: &Arc<Inner>) -> Option<Ready> {
        let reserve = &inner.reserve;
        if reserve.size == 0 {
            return None;
        }
        let (ready, refill) = {
            let mut state = reserve.lock();
            if state.asked < WARMUP {
                state.asked += 1;
                return None;
            }
            let ready = state.files.pop();
            let low = state.files.len() < reserve.size.div_ceil(4);
            let refill = low && !state.refilling && !inner.is_closed();
            if refill {
                state.refilling = true;
            }
            (ready, refill)
        };
        if refill {
            let job = Refill {
                registry: Arc::downgrade(inner),
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

    /// Waits for a running refill, then takes every ready file.
    pub(crate) async fn drain(&self) -> Vec<Ready> {
        loop {
            let notified = self.refilled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.refilling {
                    return std::mem::take(&mut state.files);
                }
            }
            notified.await;
        }
    }

    /// Takes every ready file now (a refill running may add more later).
    pub(crate) fn drain_now(&self) -> Vec<Ready> {
        std::mem::take(&mut self.lock().files)
    }
}

/// Removes drained reserve files (identity-checked), closing their fds.
pub(crate) fn discard(inner: &Inner, ready: Vec<Ready>) {
    for Ready { file, path, named } in ready {
        if let Err(e) = crate::fsops::remove_file_at(inner.session.dir(), &named.name, named.id) {
            tracing::debug!(error = %e, path = %path.display(), "tempreg could not remove a reserve file");
        }
        drop(file);
    }
}
