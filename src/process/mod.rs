//! Process-wide clean-ups: the [exit hook](exit_hook), the [panic
//! hook](panic_hook) and the sync [signal](signals) thread. Each holds its
//! registries weakly, and each does nothing in a child forked without exec
//! (the files are the parent's).

pub(crate) mod exit_hook;
pub(crate) mod panic_hook;
pub(crate) mod signals;
