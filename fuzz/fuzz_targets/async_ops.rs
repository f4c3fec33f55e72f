//! The registry from async code against a plain model: see
//! `tempreg_fuzz::async_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tempreg_fuzz::async_ops::{run, Input};

fuzz_target!(|input: Input| run(input));
