//! The atomics the SDK's hand-written synchronisation uses, swapped for loom's under
//! `--cfg loom` so the model checker can explore every interleaving
//! (`RUSTFLAGS="--cfg loom" cargo test -p ocelot-client --lib loom`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
