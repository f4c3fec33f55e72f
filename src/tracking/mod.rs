//! What a registry tracks, and the one rule that keeps every promise: an
//! entry is claimed from the table before anyone cleans it, and whoever
//! claimed it cleans it, through the one [`cleaner`], which removes names
//! only through the platform layer's identity-checked removal. A clean-up
//! that fails puts the entry back.
//!
//! - [`entry`]: what is tracked (a name in the session, a handle, or both);
//! - [`table`]: the concurrent table of entries;
//! - [`core`]: the state a registry and its guards share, and a guard's
//!   [`Ticket`](core::Ticket) (claim, act, put back);
//! - [`sync_handle`], [`async_handle`], [`memory`]: how a purge reaches a
//!   file a guard holds open, or a spooled file's bytes still in memory;
//! - [`cleaner`]: a claimed entry to an outcome;
//! - [`naming`]: how temp names are made;
//! - [`reaper`], [`reserve`]: background clean-ups of dropped async guards,
//!   and async temp files made ahead of demand.
//!
//! The protocols of the table, the reaper's backlog, the reserve's stock and
//! a sync handle are model-checked with `loom` (`tracking::models`, built
//! with `--cfg tempreg_loom`).

pub(crate) mod async_handle;
pub(crate) mod cleaner;
pub(crate) mod core;
pub(crate) mod entry;
pub(crate) mod memory;
pub(crate) mod naming;
pub(crate) mod reaper;
pub(crate) mod reserve;
pub(crate) mod sync_handle;
pub(crate) mod table;

#[cfg(all(test, tempreg_loom))]
mod models;
