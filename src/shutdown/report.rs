//! [`ShutdownReport`]: what happened to each task and cleanup step, and how
//! the process should end.

use std::fmt;
use std::time::Duration;

use crate::{PurgeReport, ResourceRegistry};

/// Why shutdown began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// A signal arrived (its number, e.g. `signal_hook::consts::SIGTERM`).
    Signal(i32),
    /// [`Shutdown::trigger`](crate::Shutdown::trigger) or
    /// [`Shutdown::shutdown`](crate::Shutdown::shutdown) was called, or the
    /// token was cancelled.
    Requested,
}

impl ShutdownReason {
    /// The signal number, if a signal began the shutdown.
    pub fn signal(&self) -> Option<i32> {
        match self {
            ShutdownReason::Signal(sig) => Some(*sig),
            ShutdownReason::Requested => None,
        }
    }
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownReason::Signal(sig) => f.write_str(&crate::process::signals::signal_name(*sig)),
            ShutdownReason::Requested => f.write_str("requested"),
        }
    }
}

/// How a tracked task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// It returned (for [`spawn_fallible`](crate::Shutdown::spawn_fallible): `Ok`).
    Finished,
    /// It returned `Err` (from [`spawn_fallible`](crate::Shutdown::spawn_fallible)); the error's text.
    Failed(String),
    /// It panicked.
    Panicked,
    /// It was still running at the grace period and was aborted.
    Aborted,
    /// It was aborted but did not stop (it blocks its thread without
    /// yielding) before the shutdown deadline.
    StillRunning,
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskOutcome::Finished => f.write_str("finished"),
            TaskOutcome::Failed(e) => write!(f, "failed: {e}"),
            TaskOutcome::Panicked => f.write_str("panicked"),
            TaskOutcome::Aborted => f.write_str("aborted at the grace period"),
            TaskOutcome::StillRunning => f.write_str("aborted, but still running"),
        }
    }
}

/// How one tracked task ended during shutdown.
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub(crate) name: String,
    pub(crate) outcome: TaskOutcome,
    pub(crate) elapsed: Duration,
}

impl TaskReport {
    /// The name given to [`spawn`](crate::Shutdown::spawn).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it ended.
    pub fn outcome(&self) -> &TaskOutcome {
        &self.outcome
    }

    /// How long after shutdown began it ended.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// How a cleanup step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error (its text), or a purge was not clean.
    Failed(String),
    /// It panicked (the panic message, when it was a string).
    Panicked(String),
    /// It ran past its time limit and was abandoned.
    TimedOut,
    /// The shutdown deadline had passed before its turn.
    Skipped,
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::Ok => f.write_str("ok"),
            StepOutcome::Failed(e) => write!(f, "failed: {e}"),
            StepOutcome::Panicked(m) => write!(f, "panicked: {m}"),
            StepOutcome::TimedOut => f.write_str("timed out"),
            StepOutcome::Skipped => f.write_str("skipped: the shutdown deadline had passed"),
        }
    }
}

/// How one cleanup step ended.
#[derive(Debug)]
pub struct StepReport {
    pub(crate) name: String,
    pub(crate) outcome: StepOutcome,
    pub(crate) elapsed: Duration,
    pub(crate) purge: Option<PurgeReport>,
}

impl StepReport {
    /// The name given at registration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it ended.
    pub fn outcome(&self) -> &StepOutcome {
        &self.outcome
    }

    /// How long it ran.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// For a registry's purge step, its report.
    pub fn purge_report(&self) -> Option<&PurgeReport> {
        self.purge.as_ref()
    }
}

/// What a shutdown did: each task and step, in order, and how long it took.
///
/// End `main` with [`exit`](Self::exit) so that the parent sees the status a
/// shell or supervisor expects.
#[derive(Debug)]
#[must_use = "a shutdown report says whether the shutdown was clean; end with `.exit()`"]
pub struct ShutdownReport {
    pub(crate) reason: ShutdownReason,
    pub(crate) tasks: Vec<TaskReport>,
    pub(crate) steps: Vec<StepReport>,
    pub(crate) elapsed: Duration,
    pub(crate) registries: Vec<ResourceRegistry>,
}

impl ShutdownReport {
    /// Why shutdown began.
    pub fn reason(&self) -> ShutdownReason {
        self.reason
    }

    /// The tasks that were running when shutdown began, in start order.
    pub fn tasks(&self) -> &[TaskReport] {
        &self.tasks
    }

    /// The cleanup steps, in the order they ran (reverse of registration).
    pub fn steps(&self) -> &[StepReport] {
        &self.steps
    }

    /// The purge reports of the registries' steps.
    pub fn purge_reports(&self) -> impl Iterator<Item = &PurgeReport> {
        self.steps.iter().filter_map(|s| s.purge.as_ref())
    }

    /// How long the shutdown took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// True if every task finished on its own and every step succeeded.
    pub fn is_clean(&self) -> bool {
        self.tasks
            .iter()
            .all(|t| t.outcome == TaskOutcome::Finished)
            && self.steps.iter().all(|s| s.outcome == StepOutcome::Ok)
    }

    /// The status the parent will see after [`exit`](Self::exit): 128 plus
    /// the signal's number after a signal (as a shell shows a process killed
    /// by it), else 0 when clean and 1 when not.
    pub fn exit_code(&self) -> i32 {
        match self.reason {
            ShutdownReason::Signal(sig) => 128 + sig,
            ShutdownReason::Requested if self.is_clean() => 0,
            ShutdownReason::Requested => 1,
        }
    }

    /// Ends the process the way shells and supervisors expect. After a
    /// signal, restores that signal's default action and raises it again, so
    /// the parent sees the process killed by that signal; otherwise exits
    /// with 0 when clean and 1 when not.
    ///
    /// Before that it removes the session directories of the registries the
    /// shutdown purged: `exit` runs no destructors, so they would stay.
    pub fn exit(self) -> ! {
        for registry in &self.registries {
            let report = registry.purge_and_remove_session();
            if !report.is_clean() {
                tracing::warn!(%report, "tempreg final purge before exit");
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        if let ShutdownReason::Signal(sig) = self.reason {
            crate::process::signals::die_by(sig);
        }
        std::process::exit(self.exit_code())
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown ({}) {} in {:.1?}: {} task(s), {} step(s)",
            self.reason,
            if self.is_clean() {
                "clean"
            } else {
                "NOT clean"
            },
            self.elapsed,
            self.tasks.len(),
            self.steps.len()
        )?;
        for t in &self.tasks {
            write!(
                f,
                "\n  task {:?}: {} after {:.1?}",
                t.name, t.outcome, t.elapsed
            )?;
        }
        for s in &self.steps {
            write!(
                f,
                "\n  step {:?}: {} in {:.1?}",
                s.name, s.outcome, s.elapsed
            )?;
            if let Some(p) = &s.purge {
                write!(f, " ({p})")?;
            }
        }
        Ok(())
    }
}
