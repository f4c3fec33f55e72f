//! [`Core`]: what a registry and all its guards share, and [`Ticket`], a
//! guard's claim on its entry.
//!
//! # Invariants
//!
//! - `Core` is shared by the registry handle(s) and by every guard (through
//!   its ticket), so the session directory outlives all of them and is
//!   removed when the last one goes (`Session`'s Drop).
//! - A guard acts on its entry only through [`Ticket::settle`]: claim, act,
//!   put back if the action failed in a way that leaves the entry ours to
//!   retry. So `close`, `keep`, `persist` and drop all keep the rule that an
//!   entry is cleaned once, by whoever claimed it, and that a failure never
//!   makes the registry forget a file still on disk.
//! - A ticket does nothing in a child forked without exec (another fork
//!   generation): the file belongs to the process that made it. The check is
//!   one atomic load.
//! - A guard's last act (`close`, drop) claims with
//!   [`Table::claim_or_abandon`]: an entry a purge has out and puts back
//!   after its guard ended is cleaned then ([`Core::put_back`]), never left
//!   tracked with no guard.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Weak};

use super::cleaner::{clean_async, clean_now, clean_now_closing, By, Outcome};
use super::entry::{Entry, EntryKind, Handle, TrackedName};
use super::reaper::Reaper;
use super::reserve::Reserve;
use super::table::Table;
use crate::error::{is_replaced_error, purged, replaced, with_path, RegistryClosed};
use crate::session::Session;
use crate::sys::{self, Removal};

/// The state shared by a registry and all its guards.
///
/// Field order matters: the session drops last (removing its directory),
/// once every file the table and the reserve hold is closed. Where a file
/// deleted while open keeps its name until it is closed (Windows without
/// POSIX delete semantics: FAT, Wine), the directory is not empty before.
pub(crate) struct Core {
    pub(crate) table: Table,
    /// Clean-ups of guards dropped on a runtime; `purge_all` waits for them.
    pub(crate) reaper: Arc<Reaper>,
    /// Async temp files made ahead of demand.
    pub(crate) reserve: Arc<Reserve>,
    /// Set once the registry is in the exit hook's list.
    pub(crate) exit_hook: AtomicBool,
    /// Handle flushes of purges, running; a purge waits for those an
    /// earlier one left running.
    pub(crate) flushes: Flushes,
    pub(crate) session: Session,
}

/// The async handles a purge is flushing and closing, each in a task of its
/// own (a *flight*), which may outlive the purge (its deadline passed). A
/// later `purge_all` waits for them ([`settle`](Flushes::settle)), so that
/// a purge without a deadline leaves nothing running behind it; a blocking
/// purge, which must not wait on the runtime, reports them busy.
///
/// A flight's future is shared: its own task polls it, and so does every
/// purge (and guard's `close()`) waiting for it, through a waker that wakes
/// them all ([`FanOut`]). So a flight left on a runtime no one drives any
/// more (a current-thread runtime outside `block_on`) is finished by
/// whoever waits for it, and no flight holds a thread while it waits for
/// its I/O. Lock order: `running`, or a flight's state and then `running`
/// (a flight that fails puts its entry back, which may start another);
/// never `running` while a flight is polled.
#[derive(Debug, Default)]
pub(crate) struct Flushes {
    running: std::sync::Mutex<HashMap<u64, Arc<Flight>>>,
    /// Numbers flights (an entry put back may fly again under its id).
    next: std::sync::atomic::AtomicU64,
}

/// A flush's future, boxed to be shared.
type FlightFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>;

enum FlightState {
    Running(FlightFuture),
    /// Done; the outcome until the flight's own task takes it.
    Done(Option<Outcome>),
}

/// One flight: what it cleans, its future or outcome, and the wakers of
/// everyone polling it.
struct Flight {
    /// The entry's id.
    id: u64,
    kind: EntryKind,
    path: PathBuf,
    state: std::sync::Mutex<FlightState>,
    fan_out: Arc<FanOut>,
}

impl fmt::Debug for Flight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flight")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("done", &self.is_done())
            .finish()
    }
}

/// The wakers of every task that polled a flight since it last woke: the
/// flight's future is polled with a waker that wakes them all, so whichever
/// of them still runs polls it again.
#[derive(Debug, Default)]
struct FanOut(std::sync::Mutex<Vec<std::task::Waker>>);

impl FanOut {
    fn wakers(&self) -> std::sync::MutexGuard<'_, Vec<std::task::Waker>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, waker: &std::task::Waker) {
        let mut wakers = self.wakers();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl std::task::Wake for FanOut {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.wakers());
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Flight {
    fn state(&self) -> std::sync::MutexGuard<'_, FlightState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_done(&self) -> bool {
        matches!(*self.state(), FlightState::Done(_))
    }

    /// Polls the flush for whoever asks; ready once it is done. The state
    /// lock is held for one poll of the future, which never blocks.
    fn poll(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        use std::task::Poll;
        let mut state = self.state();
        let FlightState::Running(future) = &mut *state else {
            return Poll::Ready(());
        };
        self.fan_out.register(cx.waker());
        let waker = std::task::Waker::from(Arc::clone(&self.fan_out));
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker))
        {
            Poll::Ready(outcome) => {
                *state = FlightState::Done(Some(outcome));
                drop(state);
                // Everyone else waiting on it: it is done.
                std::task::Wake::wake_by_ref(&self.fan_out);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Flushes {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Flight>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The flush of entry `id`, the future `clean`, is to fly: the token
    /// drives it ([`Flushing::fly`]) and ends the flight when dropped.
    pub(crate) fn start(
        core: &Arc<Core>,
        id: u64,
        kind: EntryKind,
        path: PathBuf,
        clean: impl std::future::Future<Output = Outcome> + Send + 'static,
    ) -> Flushing {
        let flight = Arc::new(Flight {
            id,
            kind,
            path,
            state: std::sync::Mutex::new(FlightState::Running(Box::pin(clean))),
            fan_out: Arc::default(),
        });
        let number = core
            .flushes
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        core.flushes.running().insert(number, Arc::clone(&flight));
        Flushing {
            core: Arc::clone(core),
            number,
            flight,
            _loan: core.lend(),
        }
    }

    /// The flushes not done yet: what each is, and its path.
    pub(crate) fn now(&self) -> Vec<(EntryKind, PathBuf)> {
        self.flights(|_| true)
            .iter()
            .filter(|f| !f.is_done())
            .map(|f| (f.kind, f.path.clone()))
            .collect()
    }

    fn flights(&self, chosen: impl Fn(&Flight) -> bool) -> Vec<Arc<Flight>> {
        self.running()
            .values()
            .filter(|f| chosen(f))
            .cloned()
            .collect()
    }

    /// Drives the flushes of entry `id` until they are done: a guard's
    /// `close()` that found a purge flushing its handle.
    pub(crate) async fn wait_for(&self, id: u64) {
        drive(self.flights(|f| f.id == id)).await;
    }

    /// Drives every flush running now until it is done (this caller may be
    /// the only one left who can).
    pub(crate) async fn settle(&self) {
        drive(self.flights(|_| true)).await;
    }
}

/// Polls every one of `flights` until all are done.
async fn drive(flights: Vec<Arc<Flight>>) {
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for flight in &flights {
            pending |= flight.poll(cx).is_pending();
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
}

/// One flight's token (see [`Flushes`]), held by its own task; it holds a
/// loan, since a flush that fails puts its entry back.
#[derive(Debug)]
pub(crate) struct Flushing {
    core: Arc<Core>,
    number: u64,
    flight: Arc<Flight>,
    _loan: Loan,
}

impl Flushing {
    /// Drives the flush to its end (or finds that someone waiting for it
    /// did) and returns its outcome, unless that was taken.
    pub(crate) async fn fly(&self) -> Option<Outcome> {
        std::future::poll_fn(|cx| self.flight.poll(cx)).await;
        match &mut *self.flight.state() {
            FlightState::Done(outcome) => outcome.take(),
            FlightState::Running(_) => None,
        }
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        self.core.flushes.running().remove(&self.number);
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceRegistry")
            .field("session_dir", &self.session.path())
            .field("entries", &self.table.len())
            .field("closed", &self.table.is_closed())
            .finish()
    }
}

// A registry, and so every guard (each holds an `Arc<Core>` through its
// ticket), is unwind safe, as `tempfile`'s guards are: `catch_unwind(|| tmp.path())`
// compiles. The table's `DashMap` (its shard locks hold an `UnsafeCell`) is
// what stops the compiler from seeing it, and what is true of it is this:
//
// - Every change to the table is one map operation (`insert`, `remove`, a
//   flag set under `get_mut`), which completes or does not happen. Claiming
//   an entry is one `remove`: a panic cannot leave an entry half-claimed, nor
//   two owners of it.
// - No code of ours runs user code, or anything that can panic, while it
//   holds a shard lock (see `table`), and `DashMap`'s locks do not poison: a
//   panic elsewhere leaves every lock free and every entry whole.
// - A panic between a claim and its put-back (inside a clean-up; none of
//   ours panics, but a `tracing` subscriber could) drops the claimed entry:
//   the registry forgets that file, and the session directory's removal at
//   the registry's end removes it. It never leaves the table inconsistent.
// - The other shared state (handles' and queues' mutexes, atomics, the
//   reaper's `Notify`) changes by single operations too, and mutexes
//   recover from poisoning by design (their state is a plain value).
//
// So between any two operations the registry's invariants hold, whatever
// panicked in between: what `UnwindSafe` asks.
impl std::panic::RefUnwindSafe for Core {}
impl std::panic::UnwindSafe for Core {}

impl Drop for Core {
    /// Closes the reserve's files before the session directory is removed
    /// (the session drops last): a task giving them back later may still
    /// hold the reserve, and where a file keeps its name while open (Windows
    /// without POSIX delete semantics: FAT, Wine) the directory could not be
    /// removed around them. Their names go with the directory.
    fn drop(&mut self) {
        drop(self.reserve.take_all_now());
    }
}

impl Core {
    pub(crate) fn new(session: Session, reserve: Reserve) -> Arc<Core> {
        Arc::new(Core {
            session,
            table: Table::new(),
            reaper: Arc::default(),
            reserve: Arc::new(reserve),
            exit_hook: AtomicBool::new(false),
            flushes: Flushes::default(),
        })
    }

    pub(crate) fn closed_error(&self) -> io::Error {
        RegistryClosed::error(self.session.path())
    }

    /// Fails fast when closed, before any file is made.
    pub(crate) fn check_open(&self) -> io::Result<()> {
        if self.table.is_closed() {
            Err(self.closed_error())
        } else {
            Ok(())
        }
    }

    /// Tracks a freshly made entry. If the registry was closed meanwhile,
    /// cleans what was made (unless a purge already took it) and fails.
    pub(crate) fn track(self: &Arc<Core>, entry: Entry) -> io::Result<Ticket> {
        match self.table.register(entry) {
            Ok(id) => Ok(Ticket {
                core: Arc::clone(self),
                id,
                generation: sys::fork_generation(),
                armed: true,
            }),
            Err(back) => {
                if let Some(entry) = back {
                    // The caller closes what it made itself.
                    let outcome = clean_now(&self.session, &entry, By::Guard, false, None);
                    if outcome.keeps_tracking() {
                        tracing::debug!(
                            ?outcome,
                            "tempreg could not clean an entry refused by a closed registry"
                        );
                    }
                }
                Err(self.closed_error())
            }
        }
    }

    /// Puts back a claimed entry the cleaner says is still ours.
    pub(crate) fn settle_outcome(self: &Arc<Core>, id: u64, entry: Entry, outcome: &Outcome) {
        if outcome.keeps_tracking() {
            self.put_back(id, entry);
        }
    }

    /// Puts back an entry a clean-up left tracked; if its guard ended
    /// meanwhile (see `table`), cleans it instead, as the guard's drop would
    /// have: off the async thread when on a runtime. A clean-up that fails
    /// again puts it back for good (the next purge, or the registry's end,
    /// retries it).
    ///
    /// An async handle is flushed and closed in a task of its own, awaiting
    /// a write still in flight (the guard may not have let go of its file
    /// yet), and counted among the running [`Flushes`], which the next
    /// purge waits for.
    pub(crate) fn put_back(self: &Arc<Core>, id: u64, entry: Entry) {
        let Some(entry) = self.table.put_back(id, entry) else {
            return;
        };
        tracing::debug!(
            kind = %entry.kind,
            "tempreg cleans an entry whose guard ended while a purge had it"
        );
        match (&entry.handle, tokio::runtime::Handle::try_current()) {
            (Handle::Async { .. }, Ok(runtime)) => {
                let (kind, path) = (entry.kind, entry.path(&self.session));
                let clean = clean_async(Arc::clone(self), id, entry, false);
                let flushing = Flushes::start(self, id, kind, path, clean);
                runtime.spawn(async move {
                    flushing.fly().await;
                });
            }
            _ => Reaper::submit(self, id, entry),
        }
    }

    /// A loan for a purge about to take entries out (see `table`): ends
    /// when dropped.
    pub(crate) fn lend(self: &Arc<Core>) -> Loan {
        self.table.lend();
        Loan(Arc::clone(self))
    }

    /// True in the process that made the registry (not in a forked child).
    pub(crate) fn is_creator(&self) -> bool {
        self.session.is_creator()
    }
}

/// A purge's (or one of its flushes') claim that it may put entries back;
/// see [`Core::lend`].
#[derive(Debug)]
pub(crate) struct Loan(Arc<Core>);

impl Drop for Loan {
    fn drop(&mut self) {
        self.0.table.end_loan();
    }
}

/// A weak handle on a registry, for what must never keep one alive (the
/// process-wide hooks, background jobs).
#[derive(Debug, Clone)]
pub(crate) struct WeakCore(Weak<Core>);

impl WeakCore {
    pub(crate) fn new(core: &Arc<Core>) -> WeakCore {
        WeakCore(Arc::downgrade(core))
    }

    pub(crate) fn upgrade(&self) -> Option<Arc<Core>> {
        self.0.upgrade()
    }

    /// True if it points at `core`.
    pub(crate) fn is(&self, core: &Arc<Core>) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(core))
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// The guard side of an entry: which registry, which id, made by which
/// process.
#[derive(Debug)]
pub(crate) struct Ticket {
    core: Arc<Core>,
    id: u64,
    generation: u32,
    /// False once another ticket took over ([`hand_over`](Ticket::hand_over)):
    /// this one acts on nothing any more.
    armed: bool,
}

impl Ticket {
    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The entry's id in the table.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn session(&self) -> &Session {
        &self.core.session
    }

    /// True in the process that made the entry, while this ticket speaks
    /// for it.
    pub(crate) fn is_born_here(&self) -> bool {
        self.armed && self.generation == sys::fork_generation()
    }

    /// A ticket for the same entry, which takes over from this one: this
    /// one acts on nothing from now on, so its guard's drop does nothing.
    /// How a guard with a `Drop` of its own hands its path on.
    pub(crate) fn hand_over(&mut self) -> Ticket {
        let taken = Ticket {
            core: Arc::clone(&self.core),
            id: self.id,
            generation: self.generation,
            armed: self.armed,
        };
        self.disarm();
        taken
    }

    /// This ticket acts on nothing from now on.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    /// Claims the entry and hands it to `act`, which returns its result and
    /// whether the entry stays tracked; then puts it back if so. `None` if
    /// the entry is not ours to act on: a purge took it, or this is a child
    /// forked since it was made.
    pub(crate) fn settle<T>(&self, act: impl FnOnce(&mut Entry) -> (T, bool)) -> Option<T> {
        self.settle_as(false, act)
    }

    /// As [`settle`](Self::settle); `last` for the guard's last act
    /// (`close`, drop): if a purge has the entry out, it is marked
    /// abandoned, so that the purge cleans it rather than putting it back.
    fn settle_as<T>(&self, last: bool, act: impl FnOnce(&mut Entry) -> (T, bool)) -> Option<T> {
        if !self.is_born_here() {
            return None;
        }
        let mut entry = if last {
            self.core.table.claim_or_abandon(self.id)?
        } else {
            self.core.table.claim(self.id)?
        };
        let (result, keep) = act(&mut entry);
        if keep {
            self.core.table.restore(self.id, entry);
        }
        Some(result)
    }

    /// Cleans the entry now, for a guard's `close` or drop: `Ok` if it is
    /// gone (or a purge took it already). On an I/O error it stays tracked.
    pub(crate) fn close(&self, op: &'static str, path: &Path) -> io::Result<()> {
        let session = &self.core.session;
        self.settle_as(true, |entry| {
            let outcome = clean_now(session, entry, By::Guard, false, None);
            let keep = outcome.keeps_tracking();
            (outcome, keep)
        })
        .map_or(Ok(()), |outcome| outcome.into_result(op, path))
    }

    /// Best-effort clean-up from a guard's Drop: never panics, logs failures.
    /// If the guard disabled clean-up, the entry is let go and its file left
    /// where it is, and the session directory is kept around it when the
    /// registry ends (unless the file is gone by then: see
    /// `Session::leave_to_user`).
    pub(crate) fn close_quietly(&self, path: &Path) {
        self.close_quietly_closing(path, None);
    }

    /// [`close_quietly`](Self::close_quietly) for a guard that owns the
    /// entry's file and has let go of it (`file`, to be closed by us): the
    /// file is closed right after the name's removal, in the same call (see
    /// [`remove_name_closing`](super::cleaner::remove_name_closing)), or on
    /// the way out if there is nothing to remove. The name is removed while
    /// the file is open, so its inode cannot be reused between the identity
    /// check and the unlink.
    pub(crate) fn close_quietly_closing(&self, path: &Path, file: Option<File>) {
        let session = &self.core.session;
        let outcome = self.settle_as(true, move |entry| {
            if !entry.cleanup {
                session.leave_to_user();
                return (None, false);
            }
            let outcome = clean_now_closing(session, entry, By::Guard, false, None, file);
            let keep = outcome.keeps_tracking();
            (Some(outcome), keep)
        });
        if let Some(Some(outcome)) = outcome {
            if let Err(e) = outcome.into_result("remove", path) {
                tracing::debug!(error = %e, "tempreg guard dropped without removing its path");
            }
        }
    }

    /// Runs `f` on the entry in place (a flag, a handle swapped; never
    /// I/O): `None` if it is not ours to act on (see [`settle`](Self::settle)).
    pub(crate) fn with_entry<T>(&self, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        if !self.is_born_here() {
            return None;
        }
        self.core.table.with(self.id, f)
    }

    /// Turns the clean-up of the entry off (no purge takes it, the guard's
    /// drop leaves its file) or back on. In place, so a purge running now
    /// sees one or the other.
    pub(crate) fn set_cleanup(&self, cleanup: bool) {
        self.with_entry(|entry| entry.cleanup = cleanup);
    }

    /// The entry's name and identity, while it is tracked.
    pub(crate) fn name(&self) -> Option<TrackedName> {
        self.with_entry(|entry| entry.name.clone())?
    }

    /// Takes the entry out, with its id, for an async guard whose clean-up
    /// runs elsewhere (the reaper, an async `close`), which puts it back if
    /// it fails.
    pub(crate) fn take(&self) -> Option<(u64, Entry)> {
        if !self.is_born_here() {
            return None;
        }
        Some((self.id, self.core.table.claim_or_abandon(self.id)?))
    }

    /// Moves the entry's name out of the session into the root, where no
    /// clean-up of ours touches it, and stops tracking it; returns the new
    /// path. On an I/O error it stays tracked; a name that is gone or
    /// replaced is not ours any more.
    pub(crate) fn keep(&self, path: &Path) -> io::Result<PathBuf> {
        let session = &self.core.session;
        self.settle(|entry| {
            let Some(name) = &entry.name else {
                let e = io::Error::new(io::ErrorKind::Unsupported, "it has no name to keep");
                return (Err(with_path(e, "keep", path)), true);
            };
            if name.outside.is_some() {
                // An adopted path is outside the session already.
                return (Ok(path.to_path_buf()), false);
            }
            match session.move_out(&name.name, &name.id) {
                Ok(to) => (Ok(to), false),
                Err(e) => {
                    let ours = !is_replaced_error(&e) && e.kind() != io::ErrorKind::NotFound;
                    (Err(e), ours)
                }
            }
        })
        .unwrap_or_else(|| Err(purged(io::ErrorKind::NotFound, "keep", path)))
    }

    /// Renames the entry's name to `dest` (refusing to replace with
    /// `noclobber`) and stops tracking it. Failures as for [`keep`](Self::keep).
    pub(crate) fn persist(&self, path: &Path, dest: &Path, noclobber: bool) -> io::Result<()> {
        let session = &self.core.session;
        self.settle(|entry| {
            let Some(name) = &entry.name else {
                let e = io::Error::new(io::ErrorKind::Unsupported, "it has no name to persist");
                return (Err(with_path(e, "persist", path)), true);
            };
            let dir = match name.dir(session) {
                Ok(Some(dir)) => dir,
                Ok(None) => {
                    let e = io::Error::new(io::ErrorKind::NotFound, "its directory is gone");
                    return (Err(with_path(e, "persist", path)), false);
                }
                Err(e) => return (Err(with_path(e, "persist", path)), true),
            };
            let target = sys::Target::Path(dest);
            match sys::move_file(&dir, &name.name, &name.id, target, noclobber) {
                Ok(Removal::Removed) => (Ok(()), false),
                Ok(Removal::Gone) => {
                    let e = io::Error::new(io::ErrorKind::NotFound, "it is already gone");
                    (Err(with_path(e, "persist", path)), false)
                }
                Ok(Removal::Replaced) => (Err(replaced("persist", path)), false),
                Err(e) => (Err(with_path(e, "persist to", dest)), true),
            }
        })
        .unwrap_or_else(|| Err(purged(io::ErrorKind::NotFound, "persist", path)))
    }
}
