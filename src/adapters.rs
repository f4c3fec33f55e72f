//! Adapters that plug the purge into shutdown coordinators users already run.
//!
//! - [`purge_on_cancel`]: a `tokio_util` [`CancellationToken`] (the one axum's
//!   `with_graceful_shutdown(token.cancelled_owned())` watches, for example).
//! - `PurgeSubsystem` (cargo feature `tokio-graceful-shutdown`): a subsystem
//!   for that crate's `Toplevel`.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{PurgeOptions, PurgeReport, ResourceRegistry};

/// Purges `registry` when `token` is cancelled; the returned task yields the
/// report. The one-liner for programs that already stop on a token.
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn`.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio_util::sync::CancellationToken;
///
/// let registry = tempreg::ResourceRegistry::new()?;
/// let token = CancellationToken::new();
/// let purge = tempreg::purge_on_cancel(&registry, token.clone());
///
/// let scratch = registry.temp_file()?;
/// token.cancel();
/// let report = purge.await.expect("purge task");
/// assert_eq!(report.removed(), 1);
/// assert!(!scratch.path().exists());
/// # Ok(())
/// # }
/// ```
pub fn purge_on_cancel(
    registry: &ResourceRegistry,
    token: CancellationToken,
) -> JoinHandle<PurgeReport> {
    purge_on_cancel_with(registry, token, PurgeOptions::default())
}

/// [`purge_on_cancel`] with purge options (a deadline, `sync_data`).
pub fn purge_on_cancel_with(
    registry: &ResourceRegistry,
    token: CancellationToken,
    options: PurgeOptions,
) -> JoinHandle<PurgeReport> {
    let registry = registry.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        registry.purge_all_with(options).await
    })
}

#[cfg(feature = "tokio-graceful-shutdown")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-graceful-shutdown")))]
pub use self::tgs::{PurgeError, PurgeSubsystem};

#[cfg(feature = "tokio-graceful-shutdown")]
mod tgs {
    use std::fmt;

    use tokio_graceful_shutdown::{IntoSubsystem, SubsystemHandle};

    use crate::{PurgeOptions, PurgeReport, ResourceRegistry};

    /// A `tokio-graceful-shutdown` subsystem that purges a registry when
    /// shutdown is requested. A purge with failures ends the subsystem with
    /// a [`PurgeError`], which `Toplevel` reports as a subsystem error.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use tokio_graceful_shutdown::{IntoSubsystem, SubsystemBuilder, SubsystemHandle, Toplevel};
    ///
    /// # #[tokio::main] async fn main() {
    /// let registry = tempreg::ResourceRegistry::new().unwrap();
    /// let purge = tempreg::PurgeSubsystem::new(&registry);
    /// let result = Toplevel::new(async move |s: &mut SubsystemHandle| {
    ///     s.start(SubsystemBuilder::new("tempreg", purge.into_subsystem()));
    /// })
    /// .catch_signals()
    /// .handle_shutdown_requests(Duration::from_secs(25))
    /// .await;
    /// # drop(result); }
    /// ```
    #[derive(Debug, Clone)]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio-graceful-shutdown")))]
    pub struct PurgeSubsystem {
        registry: ResourceRegistry,
        options: PurgeOptions,
    }

    impl PurgeSubsystem {
        /// A subsystem purging `registry` with default options.
        pub fn new(registry: &ResourceRegistry) -> PurgeSubsystem {
            PurgeSubsystem {
                registry: registry.clone(),
                options: PurgeOptions::default(),
            }
        }

        /// Purge with these options (a deadline, `sync_data`).
        pub fn options(mut self, options: PurgeOptions) -> Self {
            self.options = options;
            self
        }
    }

    /// A purge that could not clean everything; holds its report.
    #[derive(Debug)]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio-graceful-shutdown")))]
    pub struct PurgeError {
        report: PurgeReport,
    }

    impl PurgeError {
        /// The purge's report.
        pub fn report(&self) -> &PurgeReport {
            &self.report
        }
    }

    impl fmt::Display for PurgeError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "tempreg purge was not clean: {}", self.report)
        }
    }

    impl std::error::Error for PurgeError {}

    impl IntoSubsystem<PurgeError> for PurgeSubsystem {
        async fn run(self, subsys: &mut SubsystemHandle) -> Result<(), PurgeError> {
            subsys.on_shutdown_requested().await;
            self.registry.close();
            let report = self.registry.purge_all_with(self.options).await;
            tracing::info!(%report, "tempreg subsystem purged");
            if report.is_clean() {
                Ok(())
            } else {
                Err(PurgeError { report })
            }
        }
    }
}
