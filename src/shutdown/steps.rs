//! Cleanup steps: what a step is, and running one under its limit, from the
//! runtime (the orderly path) or from the watchdog's thread (when the
//! runtime cannot make progress).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::time::Duration;

use tokio::time::Instant;

use super::report::{StepOutcome, StepReport};
use crate::{PurgeOptions, ResourceRegistry};

pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;
type StepFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

pub(crate) enum StepKind {
    Async(Box<dyn FnOnce() -> StepFuture + Send>),
    Blocking(Box<dyn FnOnce() -> Result<(), BoxError> + Send>),
    Purge(ResourceRegistry),
}

pub(crate) struct Step {
    pub(crate) name: String,
    pub(crate) kind: StepKind,
}

impl Step {
    pub(crate) fn new_async<F, Fut, E>(name: &str, f: F) -> Step
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let run: Box<dyn FnOnce() -> StepFuture + Send> =
            Box::new(move || Box::pin(async move { f().await.map_err(Into::into) }));
        Step {
            name: name.to_string(),
            kind: StepKind::Async(run),
        }
    }

    pub(crate) fn new_blocking<F, E>(name: &str, f: F) -> Step
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
        E: Into<BoxError>,
    {
        Step {
            name: name.to_string(),
            kind: StepKind::Blocking(Box::new(move || f().map_err(Into::into))),
        }
    }
}

/// Runs one step in its own task, under `min(step_limit, time to deadline)`.
pub(crate) async fn run_step(step: Step, deadline: Instant, step_limit: Duration) -> StepReport {
    let started = Instant::now();
    let name = step.name;
    let left = deadline.saturating_duration_since(started);
    // A purge step runs even past the deadline, but briefly: leaving the
    // files would break the promise the deadline is there to keep.
    let limit = match step.kind {
        StepKind::Purge(_) => step_limit.min(left).max(Duration::from_millis(500)),
        _ => step_limit.min(left),
    };
    if limit.is_zero() {
        tracing::warn!(step = %name, "tempreg cleanup step skipped: deadline passed");
        return StepReport {
            name,
            outcome: StepOutcome::Skipped,
            elapsed: Duration::ZERO,
            purge: None,
        };
    }
    tracing::info!(step = %name, limit_ms = limit.as_millis() as u64, "tempreg cleanup step started");
    let mut purge = None;
    let outcome = match step.kind {
        StepKind::Purge(registry) => {
            registry.close();
            let options = PurgeOptions::new().deadline(limit);
            let report = registry.purge_all_with(options).await;
            let outcome = if report.is_clean() {
                StepOutcome::Ok
            } else {
                StepOutcome::Failed(format!("{} entr(ies) not cleaned", report.failures().len()))
            };
            purge = Some(report);
            outcome
        }
        StepKind::Async(f) => join_step(tokio::spawn(async move { f().await }), limit).await,
        StepKind::Blocking(f) => join_step(tokio::task::spawn_blocking(f), limit).await,
    };
    let elapsed = started.elapsed();
    match &outcome {
        StepOutcome::Ok => {
            tracing::info!(step = %name, elapsed_ms = elapsed.as_millis() as u64, "tempreg cleanup step done")
        }
        other => {
            tracing::warn!(step = %name, outcome = %other, elapsed_ms = elapsed.as_millis() as u64, "tempreg cleanup step did not succeed")
        }
    }
    StepReport {
        name,
        outcome,
        elapsed,
        purge,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

async fn join_step(
    mut handle: tokio::task::JoinHandle<Result<(), BoxError>>,
    limit: Duration,
) -> StepOutcome {
    match tokio::time::timeout(limit, &mut handle).await {
        Ok(Ok(Ok(()))) => StepOutcome::Ok,
        Ok(Ok(Err(e))) => StepOutcome::Failed(e.to_string()),
        Ok(Err(join)) if join.is_panic() => {
            StepOutcome::Panicked(panic_message(&*join.into_panic()))
        }
        Ok(Err(_)) => StepOutcome::Failed("cancelled".into()),
        Err(_) => {
            handle.abort();
            StepOutcome::TimedOut
        }
    }
}

/// Runs `f` on a thread of its own and waits for it up to `limit`; past
/// that, leaves it running (the process is about to end) and says so.
pub(crate) fn run_bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("tempreg-last-step".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, what, "tempreg could not start a thread for a last step");
        return None;
    }
    let done = rx.recv_timeout(limit).ok();
    if done.is_none() {
        tracing::error!(
            what,
            limit_ms = limit.as_millis() as u64,
            "tempreg left a last step running: out of time"
        );
    }
    done
}

/// Runs one step from the watchdog's thread, when the runtime is stuck:
/// blocking steps on a thread of their own, async ones on a runtime of
/// their own (a step bound to the stuck runtime's resources may fail
/// there); a purge step's registry was purged already.
pub(crate) fn run_step_blocking(step: Step, limit: Duration) -> StepOutcome {
    let name = step.name;
    let outcome = match step.kind {
        StepKind::Purge(_) => Some(StepOutcome::Ok),
        StepKind::Blocking(f) => run_bounded(&name, limit, move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        })
        .map(|result| match result {
            Ok(Ok(())) => StepOutcome::Ok,
            Ok(Err(e)) => StepOutcome::Failed(e.to_string()),
            Err(panic) => StepOutcome::Panicked(panic_message(&*panic)),
        }),
        StepKind::Async(f) => run_bounded(&name, limit, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime.block_on(tokio::time::timeout(limit, f()))
            }));
            match run {
                Ok(Ok(Ok(()))) => Ok(StepOutcome::Ok),
                Ok(Ok(Err(e))) => Ok(StepOutcome::Failed(e.to_string())),
                Ok(Err(_)) => Ok(StepOutcome::TimedOut),
                Err(panic) => Ok(StepOutcome::Panicked(panic_message(&*panic))),
            }
        })
        .map(|result: Result<StepOutcome, String>| result.unwrap_or_else(StepOutcome::Failed)),
    };
    let outcome = outcome.unwrap_or(StepOutcome::TimedOut);
    tracing::warn!(step = %name, %outcome, "tempreg ran a cleanup step from the watchdog");
    outcome
}
