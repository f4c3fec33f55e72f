//! The fuzz targets' logic, as a library: each `fuzz_targets/*.rs` is a
//! `fuzz_target!` around one module's `run`, and `tests/regressions.rs`
//! replays the inputs under `regressions/<target>/` through the same
//! code on the stable toolchain, with `cargo test`.
//!
//! - [`registry_ops`]: the sync guards against a model.
//! - [`async_ops`]: the registry from async code against a model.

pub mod async_ops;
mod common;
pub mod registry_ops;

pub use common::decode;

/// Runs one input, as raw bytes the way libFuzzer hands them over.
pub type RunBytes = fn(&[u8]);

/// The targets, by name.
pub const TARGETS: &[(&str, RunBytes)] = &[
    ("registry_ops", registry_ops::run_bytes),
    ("async_ops", async_ops::run_bytes),
];
