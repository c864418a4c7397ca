//! CPU-heavy work in a handler: viewing, merging and rendering a large report. `ocelot
//! serve` runs the collector's sockets on the same runtime as the web server, so a view of a
//! domain on a thousand machines (a few hundred milliseconds) computed in place would hold
//! up every connection queued on that worker thread.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` here, after handing the runtime's other tasks to another worker thread
/// (`block_in_place`) when the runtime is multi-threaded, as `serve` runs it. On a
/// current-thread runtime (most tests) or outside any runtime it just runs. Not for a task
/// of a `LocalSet`, where `block_in_place` panics (this crate runs none).
pub(crate) fn heavy<T>(work: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// One worker thread, like a busy server's: while a handler computes, a task queued
    /// behind it (a collector socket) still runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn other_tasks_run_while_heavy_work_does() {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let during = heavy(|| {
            let before = ticks.load(Relaxed);
            std::thread::sleep(Duration::from_millis(300));
            ticks.load(Relaxed) - before
        });
        ticker.abort();
        assert!(during >= 10, "the ticker ran {during} times in 300 ms");
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_it_just_runs() {
        assert_eq!(heavy(|| 7), 7);
    }
}
