//! The one background thread that turns queued trees into NT1 frames and writes them.
//!
//! Design constraints: the host's threads never wait for it (the queue is bounded and callers
//! drop when it is full); it owns one reused encode buffer; it batches everything already
//! queued into one write of at least [`BATCH_BYTES`] when traffic allows; while the transport
//! is not ready it leaves trees in the queue, so a short collector outage loses nothing
//! until the queue's bound is reached.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ocelot_protocol::nt1;

use crate::client::Shared;
use crate::message_id_factory;
use crate::record::{FinishedTree, HeaderTemplate};
use crate::stats::DropReason;
use crate::transport::Transport;

/// A batch is written once it reaches this size (or the queue is empty). 16 KiB amortises a
/// syscall over ~100 small trees without delaying a quiet app's trees.
pub(crate) const BATCH_BYTES: usize = 16 * 1024;
/// How long the thread waits for a tree before doing housekeeping (mark files, shutdown).
const TICK: Duration = Duration::from_millis(100);
/// Pause between readiness checks while the transport is down.
const NOT_READY_PAUSE: Duration = Duration::from_millis(10);

pub(crate) fn spawn(
    rx: Receiver<FinishedTree>,
    transport: Box<dyn Transport>,
    shared: Arc<Shared>,
    template: HeaderTemplate,
    done: Sender<()>,
) -> Option<JoinHandle<()>> {
    let worker = SenderThread {
        rx,
        transport,
        shared,
        template,
        buf: Vec::with_capacity(BATCH_BYTES * 2),
        batch_trees: 0,
    };
    std::thread::Builder::new()
        .name("ocelot-sender".to_owned())
        .spawn(move || {
            worker.run();
            let _ = done.send(());
        })
        .ok()
}

struct SenderThread {
    rx: Receiver<FinishedTree>,
    transport: Box<dyn Transport>,
    shared: Arc<Shared>,
    template: HeaderTemplate,
    buf: Vec<u8>,
    batch_trees: u64,
}

impl SenderThread {
    fn run(mut self) {
        loop {
            if self.shared.stop_now.load(Ordering::Relaxed) {
                break;
            }
            if !self.transport.ready() {
                self.note_connects();
                let closing = self.shared.closing.load(Ordering::Relaxed);
                if closing && (self.rx.is_empty() || self.shared.abandoned.load(Ordering::Relaxed))
                {
                    break;
                }
                std::thread::sleep(NOT_READY_PAUSE);
                continue;
            }
            self.note_connects();
            match self.rx.recv_timeout(TICK) {
                Ok(tree) => self.encode(tree),
                Err(RecvTimeoutError::Timeout) => {
                    message_id_factory::persist_all();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while self.buf.len() < BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(tree) => self.encode(tree),
                    Err(_) => break,
                }
            }
            self.write_batch();
        }
        message_id_factory::persist_all();
        let mut left = 0;
        while self.rx.try_recv().is_ok() {
            left += 1;
        }
        self.shared
            .counters
            .drop_trees(DropReason::Shutdown, left + self.batch_trees);
    }

    fn note_connects(&self) {
        self.shared
            .counters
            .connects
            .store(self.transport.connects(), Ordering::Relaxed);
    }

    fn encode(&mut self, tree: FinishedTree) {
        self.shared
            .counters
            .queued_bytes
            .fetch_sub(tree.estimated_bytes as u64, Ordering::Relaxed);
        if let Some(tree) = tree.into_message_tree(&self.template) {
            nt1::encode(&tree, &mut self.buf);
            self.batch_trees += 1;
        }
    }

    fn write_batch(&mut self) {
        if self.batch_trees == 0 {
            return;
        }
        let counters = &self.shared.counters;
        match self.transport.send(&self.buf) {
            Ok(()) => {
                counters.sent.fetch_add(self.batch_trees, Ordering::Relaxed);
                counters
                    .sent_bytes
                    .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                counters.send_failures.fetch_add(1, Ordering::Relaxed);
                counters.drop_trees(DropReason::SendFailed, self.batch_trees);
            }
        }
        self.buf.clear();
        self.batch_trees = 0;
    }
}
