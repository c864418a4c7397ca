//! The one background thread that turns queued trees into NT1 frames and writes them.
//!
//! Design constraints: the host's threads never wait for it (the queue is bounded and callers
//! drop when it is full); it owns one reused encode buffer; it batches everything already
//! queued into one write of at least [`BATCH_BYTES`] when traffic allows; while the transport
//! is not ready it leaves trees in the queue, so a short collector outage loses nothing
//! until the queue's bound is reached.
//!
//! Its housekeeping, run between batches whether or not the transport is ready: the message-ID
//! mark files every [`TICK`], and the client's metric and tree aggregators every
//! [`METRIC_FLUSH_INTERVAL`] (drained into the same queue as trees, so no thread of their own
//! is needed for them).

use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use ocelot_protocol::{DEFAULT_MAX_FRAME_BYTES, LENGTH_PREFIX_BYTES};

use crate::client::{Pipeline, Shared};
use crate::message_id_factory;
use crate::record::{EncodeScratch, FinishedTree, HeaderTemplate};
use crate::stats::DropReason;
use crate::transport::Transport;
use crate::tree_builder;

/// A batch is written once it reaches this size (or the queue is empty). 16 KiB amortises a
/// syscall over ~100 small trees without delaying a quiet app's trees.
pub(crate) const BATCH_BYTES: usize = 16 * 1024;
/// How long the thread waits for a tree before doing housekeeping (mark files, metrics,
/// shutdown).
const TICK: Duration = Duration::from_millis(100);
/// How often the aggregators (metrics logged outside transactions, trees that sampling did
/// not send) are sent: CAT's clients flush their aggregators about once a second
/// (reference 1.6). Checked every [`TICK`] at most, so the
/// interval is 1 to 1.1 s.
pub(crate) const METRIC_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Empty polls (of [`BUSY_POLL_PAUSE`] each) before the thread blocks: 100 ms of quiet.
const BUSY_POLLS: u32 = 100;
const BUSY_POLL_PAUSE: Duration = Duration::from_millis(1);
/// How long the stopping sender waits for a sign that its last writes went to a peer that is
/// not a collector ([`Transport::last_check`]): a local service answers within a millisecond,
/// one across a network within a few. The transport waits only on a fresh connection.
const LAST_CHECK_WAIT: Duration = Duration::from_millis(50);
/// Pause between readiness checks while the transport is down.
const NOT_READY_PAUSE: Duration = Duration::from_millis(10);

pub(crate) fn spawn(
    rx: Receiver<FinishedTree>,
    transport: Box<dyn Transport>,
    shared: Arc<Shared>,
    template: HeaderTemplate,
    pipeline: Weak<Pipeline>,
    done: Sender<()>,
) -> Option<JoinHandle<()>> {
    let worker = SenderThread {
        rx,
        transport,
        shared,
        template,
        pipeline,
        buf: Vec::with_capacity(BATCH_BYTES * 2),
        scratch: EncodeScratch::default(),
        batch_trees: 0,
        idle_polls: 0,
        on_connection: (0, 0),
        connects_seen: 0,
        last_error: None,
    };
    std::thread::Builder::new()
        .name("ocelot-sender".to_owned())
        .spawn(move || {
            // Whatever the transport records (a `tracing` event through `OcelotLayer`, a
            // macro) would be a tree sent through it again, and so on for ever.
            tree_builder::mark_sdk_thread();
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
    /// For the aggregators; weak, so the sender does not keep the pipeline (and the queue's
    /// sending side) alive.
    pipeline: Weak<Pipeline>,
    buf: Vec<u8>,
    scratch: EncodeScratch,
    batch_trees: u64,
    /// Consecutive empty polls; past [`BUSY_POLLS`] the thread blocks instead of polling.
    idle_polls: u32,
    /// Trees and bytes written on the transport's current connection: lost, and moved from
    /// sent to dropped, if that connection turns out not to be a collector's.
    on_connection: (u64, u64),
    /// The transport's connect count when `on_connection` was last reset.
    connects_seen: u64,
    /// The transport's last error as last passed on to `Shared::transport_error`.
    last_error: Option<String>,
}

impl SenderThread {
    fn run(mut self) {
        let mut last_persist = Instant::now();
        let mut last_metric_flush = Instant::now();
        loop {
            if self.shared.stop_now.load(Ordering::Relaxed) {
                break;
            }
            if last_persist.elapsed() >= TICK {
                // Keeps the message-ID mark files ahead of the counters (restart safety).
                message_id_factory::persist_all();
                last_persist = Instant::now();
            }
            if last_metric_flush.elapsed() >= METRIC_FLUSH_INTERVAL {
                // Into the queue, like any tree; this loop sends it with the next batch.
                if let Some(pipeline) = self.pipeline.upgrade() {
                    pipeline.flush_aggregators(false);
                }
                last_metric_flush = Instant::now();
            }
            let ready = self.transport.ready();
            self.after_ready();
            if !ready {
                let closing = self.shared.closing.load(Ordering::Relaxed);
                if closing && (self.rx.is_empty() || self.shared.abandoned.load(Ordering::Relaxed))
                {
                    break;
                }
                std::thread::sleep(NOT_READY_PAUSE);
                continue;
            }
            // While trees keep coming, poll with short sleeps instead of blocking: a blocked
            // receiver makes every caller's `try_send` pay a futex wake-up (a syscall), which is
            // the largest cost a caller could see. After a quiet spell, block to stay idle.
            let first = if self.idle_polls < BUSY_POLLS {
                match self.rx.try_recv() {
                    Ok(tree) => Some(tree),
                    Err(TryRecvError::Empty) => {
                        self.idle_polls += 1;
                        std::thread::sleep(BUSY_POLL_PAUSE);
                        None
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match self.rx.recv_timeout(TICK) {
                    Ok(tree) => Some(tree),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let Some(first) = first else { continue };
            self.idle_polls = 0;
            self.encode(first);
            while self.buf.len() < BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(tree) => self.encode(tree),
                    Err(_) => break,
                }
            }
            self.write_batch();
        }
        if self.on_connection.0 > 0 {
            // The last batches were counted as sent when written; a peer that is not a
            // collector has not had a chance to say so yet.
            self.transport.last_check(LAST_CHECK_WAIT);
            self.after_ready();
        }
        // Said before the last look at the queue, with a fence that pairs with the one a
        // caller passes after queueing (`Pipeline::try_submit`): a tree queued from now on
        // is either found below or dropped by its caller, never left in the queue uncounted.
        self.shared.sender_gone.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        message_id_factory::persist_all();
        self.shared.drop_queued(&self.rx, self.batch_trees);
    }

    /// Takes in what the transport's `ready` found: a connection that was not a
    /// collector's, a new connection, a new problem.
    fn after_ready(&mut self) {
        let counters = &self.shared.counters;
        if self.transport.take_not_collector() {
            let (trees, bytes) = std::mem::take(&mut self.on_connection);
            counters.unsend(DropReason::NotCollector, trees, bytes);
        }
        let connects = self.transport.connects();
        if connects != self.connects_seen {
            self.connects_seen = connects;
            self.on_connection = (0, 0);
            counters.connects.store(connects, Ordering::Relaxed);
        }
        // Compared with our own copy, so the shared one is locked only when it changes.
        let error = self.transport.last_error();
        if error.is_some() && error != self.last_error.as_deref() {
            self.last_error = error.map(str::to_owned);
            *self
                .shared
                .transport_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = self.last_error.clone();
        }
    }

    fn encode(&mut self, tree: FinishedTree) {
        self.shared
            .counters
            .queued_bytes
            .fetch_sub(tree.estimated_bytes as u64, Ordering::Relaxed);
        let start = self.buf.len();
        tree.encode_nt1(&self.template, &mut self.scratch, &mut self.buf);
        if self.buf.len() - start - LENGTH_PREFIX_BYTES > DEFAULT_MAX_FRAME_BYTES {
            // No collector keeps it (ours reads and drops it; one that closes the connection
            // on it would lose the frames after it in the batch): drop it here, unsent.
            self.buf.truncate(start);
            self.shared.counters.drop_trees(DropReason::TooLarge, 1);
            return;
        }
        self.batch_trees += 1;
    }

    fn write_batch(&mut self) {
        if self.batch_trees == 0 {
            return;
        }
        let counters = &self.shared.counters;
        match self.transport.send(&self.buf) {
            Ok(()) => {
                counters.count_sent(self.batch_trees);
                counters
                    .sent_bytes
                    .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
                self.on_connection.0 += self.batch_trees;
                self.on_connection.1 += self.buf.len() as u64;
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
