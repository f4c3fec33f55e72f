//! The synchronisation primitives of the hard internals ([the
//! table](crate::tracking::table), [the reaper's
//! backlog](crate::tracking::reaper), [the reserve's
//! stock](crate::tracking::reserve), [a sync
//! handle](crate::tracking::sync_handle)): `loom`'s when the crate is built
//! for its models (`RUSTFLAGS="--cfg tempreg_loom" cargo test --lib
//! --release models`), `std`'s otherwise, so that the models run the real
//! code, not a copy (as `tokio-util` does with `cfg(loom)`; our own name,
//! since `cfg(loom)` would switch tokio itself to loom).

#[cfg(tempreg_loom)]
pub(crate) use loom::sync::{atomic, Condvar, Mutex, MutexGuard};
#[cfg(not(tempreg_loom))]
pub(crate) use std::sync::{atomic, Condvar, Mutex, MutexGuard};
