//! The registry's sync guards against a plain model: see
//! `tempreg_fuzz::registry_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tempreg_fuzz::registry_ops::{run, Op};

fuzz_target!(|ops: Vec<Op>| run(ops));
