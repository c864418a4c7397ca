//! The TCP side: accept CAT clients, split their byte streams into frames, hand each frame
//! to the collector: the frames of each read are checked one by one (scanned, not decoded),
//! then handed on together. No handshake and no reply, like CAT: clients never read.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ocelot_protocol::{FrameDecoder, LENGTH_PREFIX_BYTES};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use crate::collector::{Collector, IngestBatch};
use crate::peer_log::PeerLog;
use crate::rate_limited_log::RateLimitedLog;
use crate::stats::{frame_error_reason, HARMLESS_DECODE_REASONS};

/// Bad-frame warnings per client address: a client sending garbage a thousand times a
/// second gets a few lines, then one a minute with the count held back; another client's
/// first bad frame is still logged. What is held back is also summed up once a minute
/// ([`BAD_FRAME_SUMMARY_INTERVAL`]), so a client that goes quiet is not left unsaid.
const BAD_FRAME_LINES_PER_PEER: u64 = 10;

/// The interval of [`BAD_FRAME_LINES_PER_PEER`], and how often the lines held back are
/// summed up.
const BAD_FRAME_SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// Bytes a connection inside a frame must bring, unless it finishes a frame, within
/// `partial_frame_timeout` to keep it: a client that sends a large frame's start and then a
/// byte now and then holds that memory, from `partial_frame_bytes`, as long as one that sent
/// nothing more. 64 KiB in 30 s is 2 KiB/s, far below any link a CAT client sends on.
const PARTIAL_FRAME_PROGRESS_BYTES: u64 = READ_BUFFER_BYTES as u64;

/// Initial read buffer per connection: C clients write up to ~60 KiB at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves CAT clients on `listener` until `shutdown` completes, then stops accepting, lets
/// every connection finish the frames it already has, and returns. The caller then calls
/// [`Collector::shutdown`] to drain the workers and write the open hours.
///
/// At most `max_connections` are served at once. A client connecting when every slot is
/// taken gets the slot of the connection silent the longest (no whole frame for 10 s at
/// least, so a client trickling bytes counts as silent), which is closed and counted
/// (`connections_evicted`); the newcomer waits for that slot (a second at most) in a task
/// of its own. If no connection is that quiet, the newcomer is closed at once and counted
/// (`connections_refused`), so it fails over instead of waiting.
///
/// A connection inside a frame that neither finishes one nor brings 64 KiB within
/// `partial_frame_timeout` is closed and counted (the decode error `stalled`): it would
/// otherwise hold its share of `partial_frame_bytes` for good.
pub async fn run(
    listener: TcpListener,
    collector: Collector,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(collector.max_connections().max(1)));
    let open = Arc::new(Open {
        started: Some(Instant::now()),
        ..Open::default()
    });
    let stats = collector.stats_handle();
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    let mut summary = tokio::time::interval_at(
        tokio::time::Instant::now() + BAD_FRAME_SUMMARY_INTERVAL,
        BAD_FRAME_SUMMARY_INTERVAL,
    );
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            _ = summary.tick() => {
                open.log_held_back();
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match limit.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            // A silent connection was told to close: the newcomer waits for its slot in its
            // own task, so the accept loop goes on answering the ones behind it. The
            // connection told to close counts itself as evicted (in `serve_connection`),
            // whether or not this newcomer then gets its slot.
            Err(_) if open.make_room(peer.ip()) => None,
            Err(_) => {
                // Closed before a byte is read: the client sees the close (a reset once it
                // has written) at once, and fails over with its trees. Counted first: a
                // client that saw the close may look at the count.
                refuse(stats, peer);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let collector = collector.clone();
        let stop = stop_rx.clone();
        let limit = limit.clone();
        next_id += 1;
        let id = next_id;
        let open = open.clone();
        connections.spawn(async move {
            let permit = match permit {
                Some(permit) => permit,
                None => match tokio::time::timeout(ROOM_WAIT, limit.acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        refuse(collector.stats_handle(), peer);
                        drop(stream);
                        return;
                    }
                },
            };
            let served = Arc::new(Served {
                last_frame_ms: AtomicU64::new(open.now_ms()),
                close: Notify::new(),
                peer: peer.ip(),
            });
            open.served
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, served.clone());
            serve_connection(stream, peer, &collector, stop, &served, &open).await;
            open.served
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    open.log_held_back();
    Ok(())
}

/// Counts and logs a newcomer closed because every slot is busy.
fn refuse(stats: &crate::stats::CollectorStats, peer: SocketAddr) {
    stats.connections_refused.fetch_add(1, Relaxed);
    FULL_LOG.log(|suppressed| {
        tracing::warn!(%peer, suppressed, "every connection slot is busy (collector.max_connections); closing the new connection");
    });
}

/// Lines about refused connections.
static FULL_LOG: RateLimitedLog = RateLimitedLog::new(5, Duration::from_secs(60));

/// Lines about connections closed to make room for a new one, limited as the refusals are.
static EVICTED_LOG: RateLimitedLog = RateLimitedLog::new(5, Duration::from_secs(60));

/// Well-framed frames that do not decode, in a row, after which a connection is closed
/// (once the other whole frames of the read that brought the last one are taken).
///
/// One such frame costs only itself: it is counted and dropped, and the connection kept,
/// so the trees behind it still count. A client whose codec is broken for good would
/// otherwise be served forever for nothing; a thousand is far more than a client with an
/// occasional bad tree sends between two good ones, and a handful of milliseconds of work.
pub const MAX_BAD_FRAMES_IN_A_ROW: u32 = 1000;

/// A connection silent for this long may be closed to make room for a new one when every
/// slot is taken (see [`Open::make_room`]).
const EVICTABLE_AFTER: Duration = Duration::from_secs(10);

/// How long a new connection waits for the slot of a connection closed to make room for it.
const ROOM_WAIT: Duration = Duration::from_secs(1);

/// One served connection as the accept loop sees it: when it last finished a frame, and
/// how to tell it to close.
struct Served {
    /// Milliseconds since the server started, when its last frame was whole (or it
    /// connected).
    last_frame_ms: AtomicU64,
    close: Notify,
    /// The client's address: one holding many slots gives one up to another client.
    peer: IpAddr,
}

/// The connections being served, to find the longest silent one when every slot is taken,
/// the bytes of the frames they are still receiving, and their bad-frame lines.
struct Open {
    started: Option<Instant>,
    served: Mutex<HashMap<u64, Arc<Served>>>,
    partial_bytes: AtomicU64,
    /// See [`BAD_FRAME_LINES_PER_PEER`].
    bad_frames: PeerLog,
}

impl Default for Open {
    fn default() -> Self {
        Open {
            started: None,
            served: Mutex::default(),
            partial_bytes: AtomicU64::new(0),
            bad_frames: PeerLog::new(BAD_FRAME_LINES_PER_PEER, BAD_FRAME_SUMMARY_INTERVAL),
        }
    }
}

impl Open {
    /// One line for the bad-frame lines held back since the last one, if any.
    fn log_held_back(&self) {
        let held = self.bad_frames.take_held_back(Instant::now());
        if held.lines > 0 {
            tracing::warn!(
                lines = held.lines,
                peers = held.peers,
                "bad-frame lines held back in the last minute (each client logs at most {BAD_FRAME_LINES_PER_PEER} a minute)"
            );
        }
    }

    /// Sets one connection's bytes of unfinished frames (`share`) to `held`; returns every
    /// connection's together.
    fn hold_partial(&self, share: &mut u64, held: u64) -> u64 {
        let all = if held >= *share {
            self.partial_bytes.fetch_add(held - *share, Relaxed) + (held - *share)
        } else {
            self.partial_bytes.fetch_sub(*share - held, Relaxed) - (*share - held)
        };
        *share = held;
        all
    }

    fn now_ms(&self) -> u64 {
        self.started.map_or(0, |s| s.elapsed().as_millis() as u64)
    }

    /// Tells a connection to close to make room for a newcomer from `newcomer`, and says
    /// whether one was: the connection silent the longest (by its last whole frame), if
    /// silent for [`EVICTABLE_AFTER`]; else, when one client holds more slots than the
    /// newcomer's by two or more, that client's connection silent the longest. Clients that
    /// connect and send nothing (idle CAT clients of a big fleet, port scanners, health
    /// checks) would otherwise hold every slot while a client with trees to send waits in the
    /// listen backlog, uncounted; and one host sending a tree every few seconds on every slot
    /// (QA: 4096 connections from one address) turned every other client away.
    fn make_room(&self, newcomer: IpAddr) -> bool {
        let now = self.now_ms();
        let served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        let silent_for = |c: &Served| now.saturating_sub(c.last_frame_ms.load(Relaxed));
        let quiet_enough = EVICTABLE_AFTER.as_millis() as u64;
        let silent = served
            .values()
            .max_by_key(|c| silent_for(c))
            .filter(|c| silent_for(c) >= quiet_enough);
        let evicted = silent.or_else(|| {
            // Each client's slots, and its connection silent the longest.
            let mut by_client: HashMap<IpAddr, (usize, &Arc<Served>)> = HashMap::new();
            for c in served.values() {
                let entry = by_client.entry(c.peer).or_insert((0, c));
                entry.0 += 1;
                if silent_for(c) > silent_for(entry.1) {
                    entry.1 = c;
                }
            }
            let newcomer_holds = by_client.get(&newcomer).map_or(0, |(n, _)| *n);
            by_client
                .into_values()
                .max_by_key(|(n, _)| *n)
                .filter(|(n, _)| *n >= newcomer_holds + 2)
                .map(|(_, c)| c)
        });
        match evicted {
            Some(connection) => {
                // Not picked again by the next newcomer while it closes.
                connection.last_frame_ms.store(now, Relaxed);
                connection.close.notify_one();
                true
            }
            None => false,
        }
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    collector: &Collector,
    mut stop: watch::Receiver<bool>,
    served: &Served,
    open: &Open,
) {
    let stats = collector.stats_handle();
    stats.connections_open.fetch_add(1, Relaxed);
    stats.connections_total.fetch_add(1, Relaxed);
    let mut decoder = FrameDecoder::new(collector.max_frame_bytes());
    // Allocated when the first bytes arrive (`read_some`): a connection that sends nothing
    // (an idle client of a big fleet, a health check) holds no buffer.
    let mut buf = BytesMut::new();
    // The trees of one read go to the store and the workers together.
    let mut batch = IngestBatch::default();
    // This connection's share of `open`'s bytes of unfinished frames.
    let mut partial = 0u64;
    // Frames in a row that did not decode (see `MAX_BAD_FRAMES_IN_A_ROW`).
    let mut bad_in_a_row = 0u32;
    // When a connection inside a frame is closed as stalled, and the bytes received since
    // that deadline was set (see `PARTIAL_FRAME_PROGRESS_BYTES`).
    let stall_timeout = collector.partial_frame_timeout();
    // The deadline moves at almost every read; the timer is moved only when it fires
    // early (a reset per read is a trip to the timer wheel's lock).
    let mut deadline = tokio::time::Instant::now() + stall_timeout;
    let stall = tokio::time::sleep_until(deadline);
    tokio::pin!(stall);
    let mut progress = 0u64;
    'read: loop {
        let was_empty = buf.is_empty();
        let read = tokio::select! {
            read = read_some(&mut stream, &mut buf) => Some(read),
            _ = stop.changed() => None,
            // Closed to make room for a new connection (see `Open::make_room`). Counted
            // here, as it closes: counted by the newcomer, it was missed when the newcomer
            // got no slot after all (refused once `ROOM_WAIT` passed), though this one was
            // closed all the same.
            () = served.close.notified() => {
                stats.connections_evicted.fetch_add(1, Relaxed);
                EVICTED_LOG.log(|suppressed| {
                    tracing::warn!(%peer, suppressed, "every connection slot is busy (collector.max_connections); closing the connection silent the longest (or, with none silent, that of the client holding the most slots) to make room for a new one");
                });
                None
            }
            // Inside a frame and stalled: its bytes count against `partial_frame_bytes`,
            // which stalled connections would otherwise hold for good, closing an honest
            // client's connection inside a large frame instead.
            () = &mut stall, if !buf.is_empty() => {
                if tokio::time::Instant::now() < deadline {
                    stall.as_mut().reset(deadline);
                    continue 'read;
                }
                let reason = partial_frame_reason(&decoder, &buf, "stalled");
                collector.count_bad_frame(reason, buf.len() as u64);
                if !HARMLESS_DECODE_REASONS.contains(&reason) {
                    open.bad_frames.log(peer.ip(), |suppressed| {
                        tracing::warn!(%peer, offset = decoder.offset(), bytes = buf.len(), timeout = ?stall_timeout, suppressed, "no frame finished and under 64 KiB received inside one in collector.partial_frame_timeout_secs; closing the connection, its partial tree is dropped");
                    });
                }
                break 'read;
            }
        };
        let Some(read) = read else {
            // Closed by the server (a shutdown, or a slot given to a newcomer).
            drop_partial_frame(collector, peer, &decoder, &buf, open, CLOSED_BY_SERVER);
            break;
        };
        match read {
            Ok(0) => {
                drop_partial_frame(collector, peer, &decoder, &buf, open, "connection closed");
                break;
            }
            Ok(n) => progress += n as u64,
            Err(e) => {
                // A reset, or a peer gone silent past the keepalive: as lost as a close.
                tracing::debug!(%peer, error = %e, "connection read failed");
                drop_partial_frame(collector, peer, &decoder, &buf, open, "connection failed");
                break;
            }
        }
        // Whether this read finished a frame: a connection is as quiet as its last whole
        // frame, so a client trickling a byte now and then holds no slot it would not lose.
        // Frames that do not decode do not count: a client sending only those may lose
        // its slot to one with trees.
        let mut finished = false;
        // Set when `MAX_BAD_FRAMES_IN_A_ROW` is reached. The frames this read brought are
        // still taken, each accepted or counted, and the connection closed after them:
        // left in the buffer, they were lost without a count.
        let mut closing = false;
        // The longest frame this read finished (see `shed_grown_buffer`).
        let mut longest = 0usize;
        loop {
            let offset = decoder.offset();
            let decoded = decoder.decode(&mut buf);
            // The bytes of an oversize frame the decoder stepped over in this call (it drops
            // them as they arrive, over as many reads as they take): received all the same.
            let whole = decoded
                .as_ref()
                .map_or(0, |f| f.as_ref().map_or(0, |f| f.len()));
            longest = longest.max(whole);
            let stepped = decoder.offset() - offset - whole as u64;
            if stepped > 0 {
                collector.count_stepped_over(stepped);
            }
            match decoded {
                Ok(Some(frame)) => match collector.accept(frame, &mut batch) {
                    Ok(()) => {
                        finished = true;
                        bad_in_a_row = 0;
                    }
                    Err(e) => {
                        // Counted by `accept`. The frame was whole, so the next one starts
                        // right after it: dropping only this one keeps the trees behind it,
                        // as CAT's server does, where closing lost all of them.
                        bad_in_a_row += 1;
                        if bad_in_a_row == MAX_BAD_FRAMES_IN_A_ROW {
                            // Not through `open.bad_frames`: the frames before it spent
                            // that limit, and this happens once per connection at most.
                            tracing::warn!(%peer, offset, error = %e, bad_in_a_row, "malformed frame, and no good one among the last ones; closing the connection");
                            closing = true;
                        } else if !closing {
                            open.bad_frames.log(peer.ip(), |suppressed| {
                                tracing::warn!(%peer, offset, error = %e, suppressed, "malformed frame; dropping it, keeping the connection");
                            });
                        }
                    }
                },
                Ok(None) => {
                    collector.dispatch(&mut batch);
                    break;
                }
                Err(e) if e.is_recoverable() => {
                    // A CAT frame over `max_frame_bytes`: only that tree is lost, as on
                    // CAT's server; the decoder steps over it and the trees behind it count.
                    // Its bytes are counted as they are stepped over (above).
                    collector.count_bad_frame(frame_error_reason(&e), 0);
                    open.bad_frames.log(peer.ip(), |suppressed| {
                        tracing::warn!(%peer, offset, error = %e, suppressed, "frame over collector.max_frame_bytes; dropping it, keeping the connection");
                    });
                }
                Err(e) => {
                    // Counted once: what is left in the buffer starts with this length and
                    // has no frame boundary to trust, so there are no more frames to count
                    // in it (nor any partial one: its end is not known either).
                    collector.count_bad_frame(frame_error_reason(&e), buf.len() as u64);
                    open.bad_frames.log(peer.ip(), |suppressed| {
                        tracing::warn!(%peer, offset, error = %e, suppressed, "bad frame length; closing the connection");
                    });
                    break 'read;
                }
            }
        }
        shed_grown_buffer(&mut buf, longest);
        if finished {
            served.last_frame_ms.store(open.now_ms(), Relaxed);
        }
        if was_empty || finished || progress >= PARTIAL_FRAME_PROGRESS_BYTES {
            deadline = tokio::time::Instant::now() + stall_timeout;
            progress = 0;
        }
        if closing {
            drop_partial_frame(collector, peer, &decoder, &buf, open, CLOSED_BY_SERVER);
            break;
        }
        // What is left in the buffer is an unfinished frame, held until it is whole.
        let held = buf.len() as u64;
        let all = open.hold_partial(&mut partial, held);
        if held > READ_BUFFER_BYTES as u64 && all > collector.partial_frame_bytes() {
            collector.count_bad_frame("over_memory_budget", held);
            open.bad_frames.log(peer.ip(), |suppressed| {
                tracing::warn!(%peer, bytes = held, all, suppressed, "frames still arriving hold more than collector.partial_frame_mib; closing a connection inside a large one");
            });
            break;
        }
    }
    open.hold_partial(&mut partial, 0);
    // Trees taken before the connection closed still count.
    collector.dispatch(&mut batch);
    stats.connections_open.fetch_sub(1, Relaxed);
}

/// Reads what `stream` has into `buf`, giving `buf` its [`READ_BUFFER_BYTES`] once there is
/// something to read if it has no room at all (a new connection's, see `serve_connection`).
/// Cancel-safe, as `read_buf` is: nothing is read until the last await.
async fn read_some(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    if buf.capacity() == 0 {
        // Waits for a byte (or the end) without taking it: readiness alone can be spurious.
        stream.peek(&mut [0u8; 1]).await?;
        buf.reserve(READ_BUFFER_BYTES);
    }
    stream.read_buf(buf).await
}

/// After a read that finished a frame longer than [`READ_BUFFER_BYTES`]: `buf` grew to hold
/// that frame, and what is left in it still shares the frame's allocation, which it kept
/// for as long as the connection lived, long after the frame was handled. A connection that
/// sent one 16 MiB frame and then nothing held 16 MiB or more: a few hundred such idle
/// connections held gigabytes. What is left (at most the start of the next frame) moves to
/// a buffer of its own, so the allocation goes when the frame does. Done once per read, not
/// per frame: each move copies the rest of the buffer.
fn shed_grown_buffer(buf: &mut BytesMut, longest_frame_bytes: usize) {
    if longest_frame_bytes <= READ_BUFFER_BYTES {
        return;
    }
    let mut own = BytesMut::with_capacity(buf.len().max(READ_BUFFER_BYTES));
    own.extend_from_slice(buf);
    *buf = own;
}

/// How [`drop_partial_frame`] says that the server itself closed the connection: at a
/// shutdown, to give its slot to a newcomer, or after too many bad frames in a row.
const CLOSED_BY_SERVER: &str = "closing a connection";

/// Counts and logs the unfinished frame left in `buf` as its connection closes (`closing`
/// says how): that tree is lost whoever closes, and each lost tree is counted.
fn drop_partial_frame(
    collector: &Collector,
    peer: SocketAddr,
    decoder: &FrameDecoder,
    buf: &BytesMut,
    open: &Open,
    closing: &str,
) {
    if buf.is_empty() {
        return;
    }
    let reason = partial_frame_reason(decoder, buf, "closed_mid_frame");
    collector.count_bad_frame(reason, buf.len() as u64);
    if HARMLESS_DECODE_REASONS.contains(&reason) {
        // A port scan or a health check: not worth a warning per probe.
        tracing::debug!(%peer, bytes = buf.len(), "{closing} before a whole length prefix");
        return;
    }
    open.bad_frames.log(peer.ip(), |suppressed| {
        tracing::warn!(%peer, offset = decoder.offset(), bytes = buf.len(), suppressed, "{closing} inside a frame; its partial tree is dropped");
    });
}

/// The reason a connection ending with `buf` unfinished is counted under: `lost` (how it
/// ended), unless it never sent a whole length prefix. Such a connection (a port scan, a
/// TCP health check that writes a byte or two) held nothing that could be a tree, and
/// counted as a lost tree it made `ocelot status` report dropped data. A client that sent
/// frames before is not one: its next frame may have been cut after a byte or two.
fn partial_frame_reason(
    decoder: &FrameDecoder,
    buf: &BytesMut,
    lost: &'static str,
) -> &'static str {
    if decoder.offset() == 0 && buf.len() < LENGTH_PREFIX_BYTES {
        "closed_in_length_prefix"
    } else {
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_buffer::LogBuffer;
    use crate::{CollectorConfig, ManualClock};

    /// Serves one connection that is then closed to make room (no newcomer takes its slot);
    /// returns the collector's counters and the lines logged meanwhile, and the peer.
    fn evict_one() -> (crate::StatsSnapshot, String, SocketAddr) {
        let config = CollectorConfig {
            background_ticks: false,
            ..CollectorConfig::default()
        };
        let collector = Collector::start(config, None, Arc::new(ManualClock::new(0)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // The connection is served on this thread: its lines go to this subscriber.
        let logged = LogBuffer::default();
        let subscriber = logged.subscriber();
        let peer = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap();
                let (stream, peer) = listener.accept().await.unwrap();
                // Served since longer than `EVICTABLE_AFTER` without a frame: evictable.
                let open = Open {
                    started: Some(
                        Instant::now()
                            .checked_sub(EVICTABLE_AFTER * 2)
                            .expect("the machine has been up for 20 s"),
                    ),
                    ..Open::default()
                };
                let served = Arc::new(Served {
                    last_frame_ms: AtomicU64::new(0),
                    close: Notify::new(),
                    peer: peer.ip(),
                });
                open.served.lock().unwrap().insert(1, served.clone());
                let (_stop, stop) = watch::channel(false);
                // No newcomer here takes the slot.
                assert!(open.make_room(peer.ip()));
                serve_connection(stream, peer, &collector, stop, &served, &open).await;
                drop(client);
                peer
            })
        });
        let stats = collector.stats();
        collector.shutdown();
        let text = logged.text();
        (stats, text, peer)
    }

    /// Serves one connection whose client sent `sent` and then, if `reset`, reset it (a
    /// client killed, or a peer gone past the keepalive); returns the collector's counters
    /// and the lines logged meanwhile. All of `sent` is in the socket before the server
    /// reads, so it comes in one read.
    fn serve_sent(sent: &[u8], reset: bool) -> (crate::StatsSnapshot, String) {
        serve_sent_with(CollectorConfig::default(), sent, reset)
    }

    /// [`serve_sent`] with the collector configured by `config`.
    fn serve_sent_with(
        config: CollectorConfig,
        sent: &[u8],
        reset: bool,
    ) -> (crate::StatsSnapshot, String) {
        let config = CollectorConfig {
            background_ticks: false,
            ..config
        };
        let collector = Collector::start(config, None, Arc::new(ManualClock::new(0)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let logged = LogBuffer::default();
        let subscriber = logged.subscriber();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                use tokio::io::AsyncWriteExt;
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mut client = TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap();
                let (stream, peer) = listener.accept().await.unwrap();
                client.write_all(sent).await.unwrap();
                let mut peeked = vec![0; sent.len()];
                while stream.peek(&mut peeked).await.unwrap() < sent.len() {}
                // Else kept open until the server is done: closing is the server's to do.
                let client = if reset {
                    client.set_zero_linger().unwrap();
                    drop(client);
                    None
                } else {
                    Some(client)
                };
                let open = Open::default();
                let served = Served {
                    last_frame_ms: AtomicU64::new(0),
                    close: Notify::new(),
                    peer: peer.ip(),
                };
                let (_stop, stop) = watch::channel(false);
                let serving = serve_connection(stream, peer, &collector, stop, &served, &open);
                tokio::time::timeout(Duration::from_secs(10), serving)
                    .await
                    .expect("the server closes the connection");
                drop(client);
            });
        });
        let stats = collector.stats();
        collector.shutdown();
        (stats, logged.text())
    }

    /// A whole frame holding one tree of the manual clock's hour.
    fn good_frame() -> Vec<u8> {
        use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
        let header = Header {
            domain: "shop".into(),
            ..Header::default()
        };
        let root = Message::Transaction(Transaction::new("URL", "/home", 0));
        let mut out = Vec::new();
        nt1::encode(&MessageTree::new(header, root), &mut out);
        out
    }

    /// The connection's buffer kept sharing the allocation of the last large frame it held
    /// once that frame was taken and handled: an idle connection that had sent a 16 MiB frame
    /// held 16 MiB for as long as it stayed open. After the read, the frame owns its bytes
    /// alone, and the start of the next frame is still there.
    #[test]
    fn a_large_frame_taken_leaves_no_share_of_its_allocation_to_the_connection() {
        let large = {
            let mut frame = (READ_BUFFER_BYTES as u32 * 4).to_be_bytes().to_vec();
            frame.extend_from_slice(b"NT1");
            frame.resize(LENGTH_PREFIX_BYTES + READ_BUFFER_BYTES * 4, 0xff);
            frame
        };
        let good = good_frame();
        let mut decoder = FrameDecoder::new(ocelot_protocol::DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
        // As `serve_connection` reads: the large frame arrives over several reads, then a
        // good frame and half of the next come in the read that finishes it.
        buf.extend_from_slice(&large[..READ_BUFFER_BYTES]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&large[READ_BUFFER_BYTES..]);
        buf.extend_from_slice(&good);
        buf.extend_from_slice(&good[..good.len() / 2]);
        let mut longest = 0;
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            longest = longest.max(frame.len());
            frames.push(frame);
        }
        shed_grown_buffer(&mut buf, longest);
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[0][..], &large[..]);
        assert_eq!(&frames[1][..], &good[..]);
        drop(frames.pop());
        let large_frame = frames.pop().unwrap();
        assert!(
            large_frame.is_unique(),
            "the connection's buffer still shares the large frame's allocation"
        );
        assert_eq!(&buf[..], &good[..good.len() / 2]);
        assert!(buf.capacity() >= READ_BUFFER_BYTES);
        // The rest of the next frame still completes it.
        buf.extend_from_slice(&good[good.len() / 2..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap().as_deref(),
            Some(&good[..])
        );
    }

    /// Every slot busy and none silent: a client holding two or more slots more than the
    /// newcomer's gives one up (its connection silent the longest); a newcomer from that
    /// client, or among clients of one slot each, finds no room.
    #[test]
    fn with_every_slot_busy_the_client_holding_the_most_gives_one_up_to_another() {
        // A minute since the server started; every client sent a frame 5 s ago or less.
        let open = Open {
            started: Some(
                Instant::now()
                    .checked_sub(Duration::from_secs(60))
                    .expect("the machine has been up a minute"),
            ),
            ..Open::default()
        };
        let (hog, other, third): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let connect = |id: u64, peer: IpAddr, last_frame_ms: u64| {
            let served = Arc::new(Served {
                last_frame_ms: AtomicU64::new(last_frame_ms),
                close: Notify::new(),
                peer,
            });
            open.served.lock().unwrap().insert(id, served.clone());
            served
        };
        let hogs: Vec<_> = (0..4).map(|i| connect(i, hog, 55_000 + i)).collect();
        connect(10, other, 59_000);
        assert!(
            !open.make_room(hog),
            "the client holding the most gets none of its own"
        );
        assert!(open.make_room(third));
        // The hog's connection silent the longest was told to close (and marked, so that the
        // next newcomer picks another).
        let last_frames: Vec<u64> = hogs.iter().map(|c| c.last_frame_ms.load(Relaxed)).collect();
        assert!(last_frames[0] >= 59_000, "{last_frames:?}");
        assert_eq!(last_frames[1..], [55_001, 55_002, 55_003]);
        // Clients of one slot each: no one gives way.
        let even = Open {
            started: Some(Instant::now()),
            ..Open::default()
        };
        for (id, peer) in [(1, hog), (2, other)] {
            even.served.lock().unwrap().insert(
                id,
                Arc::new(Served {
                    last_frame_ms: AtomicU64::new(even.now_ms()),
                    close: Notify::new(),
                    peer,
                }),
            );
        }
        assert!(!even.make_room(third));
    }

    /// A connection that has sent nothing holds no read buffer (4096 idle ones held 256 MiB);
    /// its first bytes bring one of the usual size.
    #[test]
    fn a_connection_has_its_read_buffer_once_bytes_arrive() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            // Nothing sent: the read waits, with no buffer.
            let waited =
                tokio::time::timeout(Duration::from_millis(50), read_some(&mut stream, &mut buf))
                    .await;
            assert!(waited.is_err(), "nothing to read yet");
            assert_eq!(buf.capacity(), 0);
            tokio::io::AsyncWriteExt::write_all(&mut client, b"\0\0\0\x03NT1")
                .await
                .unwrap();
            let read = read_some(&mut stream, &mut buf).await.unwrap();
            assert!(read > 0 && buf.starts_with(b"\0\0\0\x03"));
            assert!(buf.capacity() >= READ_BUFFER_BYTES);
        });
    }

    /// Frames no longer than the read buffer leave the buffer as it is: no copy per read.
    #[test]
    fn small_frames_keep_the_connections_buffer() {
        let good = good_frame();
        let mut decoder = FrameDecoder::new(ocelot_protocol::DEFAULT_MAX_FRAME_BYTES);
        let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
        buf.extend_from_slice(&good);
        buf.extend_from_slice(&good[..3]);
        let frame = decoder.decode(&mut buf).unwrap().unwrap();
        let before = buf.as_ptr();
        shed_grown_buffer(&mut buf, frame.len());
        assert_eq!(buf.as_ptr(), before);
        assert_eq!(&buf[..], &good[..3]);
    }

    /// A frame framed well whose body does not decode ("truncated").
    const BAD_FRAME: &[u8] = &[0, 0, 0, 5, b'N', b'T', b'1', 0xff, 0xff];

    /// The connection closed at the thousandth bad frame in a row dropped what else its
    /// last read had brought, uncounted: the frames behind that one and the unfinished
    /// frame after them. They are taken (the tree accepted, the bad frame counted), and the
    /// unfinished one counted as closed mid-frame, as on every other close.
    #[test]
    fn a_connection_closed_after_a_thousand_bad_frames_counts_every_frame_it_had_read() {
        let good = good_frame();
        let mut sent = BAD_FRAME.repeat(MAX_BAD_FRAMES_IN_A_ROW as usize);
        sent.extend_from_slice(&good);
        sent.extend_from_slice(BAD_FRAME);
        sent.extend_from_slice(&good[..good.len() / 2]);
        let (stats, logged) = serve_sent(&sent, false);
        assert_eq!(stats.connections_open, 0);
        assert_eq!(stats.trees_accepted, 1);
        let truncated = u64::from(MAX_BAD_FRAMES_IN_A_ROW) + 1;
        assert_eq!(
            stats.decode_errors.get("truncated"),
            Some(&truncated),
            "{:?}",
            stats.decode_errors
        );
        assert_eq!(stats.decode_errors.get("closed_mid_frame"), Some(&1));
        assert_eq!(stats.decode_errors_total(), truncated + 1);
        // The partial frame's own line is rate-limited with the bad frames' (spent by now).
        assert_eq!(logged.matches("no good one among the last ones").count(), 1);
    }

    /// A connection that failed (reset here) inside a frame dropped that tree uncounted,
    /// where a close counted it.
    #[test]
    fn a_connection_reset_inside_a_frame_counts_the_lost_tree() {
        let good = good_frame();
        let mut sent = good.clone();
        sent.extend_from_slice(&good[..good.len() / 2]);
        let (stats, _) = serve_sent(&sent, true);
        assert_eq!(stats.trees_accepted, 1);
        assert_eq!(stats.decode_errors.get("closed_mid_frame"), Some(&1));
        assert_eq!(stats.decode_errors_total(), 1);
    }

    /// A port scan or a health check that wrote a byte or two and went counted as a
    /// `truncated` tree, and `ocelot status` called it dropped data. It held nothing that
    /// could be a tree: counted apart, as harmless, and not logged as a lost tree.
    #[test]
    fn a_connection_gone_before_a_whole_length_prefix_is_counted_as_harmless() {
        let (stats, logged) = serve_sent(&[0, 0], true);
        assert_eq!(
            stats.decode_errors.get("closed_in_length_prefix"),
            Some(&1),
            "{:?}",
            stats.decode_errors
        );
        assert_eq!(stats.decode_errors_total(), 1);
        assert!(HARMLESS_DECODE_REASONS.contains(&"closed_in_length_prefix"));
        assert!(!logged.contains("partial tree"), "{logged}");
        // After a whole frame the same two bytes are the start of a tree that was lost.
        let mut sent = good_frame();
        sent.extend_from_slice(&[0, 0]);
        let (stats, _) = serve_sent(&sent, true);
        assert_eq!(stats.trees_accepted, 1);
        assert_eq!(stats.decode_errors.get("closed_mid_frame"), Some(&1));
        assert_eq!(stats.decode_errors_total(), 1);
    }

    /// The same when such a connection stays open and stalls: nothing that could be a tree.
    #[test]
    fn a_connection_stalled_before_a_whole_length_prefix_is_counted_as_harmless() {
        let config = CollectorConfig {
            partial_frame_timeout: Duration::from_millis(100),
            ..CollectorConfig::default()
        };
        let (stats, logged) = serve_sent_with(config, &[0], false);
        assert_eq!(stats.decode_errors.get("closed_in_length_prefix"), Some(&1));
        assert_eq!(stats.decode_errors_total(), 1);
        assert!(!logged.contains("partial tree"), "{logged}");
    }

    /// A connection inside a frame that sends nothing more held its bytes (a share of
    /// `partial_frame_bytes`) until a newcomer evicted it, which might be never. It is now
    /// closed after `partial_frame_timeout`, counted as `stalled` and logged with its peer.
    #[test]
    fn a_connection_stalled_inside_a_frame_is_closed_counted_and_logged() {
        let good = good_frame();
        let mut sent = good.clone();
        sent.extend_from_slice(&good[..good.len() / 2]);
        let config = CollectorConfig {
            partial_frame_timeout: Duration::from_millis(200),
            ..CollectorConfig::default()
        };
        // The client stays connected: only the timeout closes the connection.
        let (stats, logged) = serve_sent_with(config, &sent, false);
        assert_eq!(stats.trees_accepted, 1);
        assert_eq!(stats.decode_errors.get("stalled"), Some(&1));
        assert_eq!(stats.decode_errors_total(), 1);
        assert_eq!(stats.connections_open, 0);
        let line = logged
            .lines()
            .find(|l| l.contains("collector.partial_frame_timeout_secs"))
            .unwrap_or_else(|| panic!("no stall line in {logged:?}"));
        assert!(line.contains("peer=127.0.0.1:"), "{line}");
    }

    /// The newcomer an eviction makes room for may get no slot after all (refused once
    /// `ROOM_WAIT` passed on a busy runtime): the connection closed for it counts all the
    /// same, as it is the one that lost its slot.
    #[test]
    fn a_connection_closed_to_make_room_counts_as_evicted_whoever_takes_its_slot() {
        let (stats, _, _) = evict_one();
        assert_eq!((stats.connections_evicted, stats.connections_open), (1, 0));
    }

    /// A newcomer refused was logged, a connection closed to make room only counted: the
    /// log said nothing of a client that lost its slot.
    #[test]
    fn a_connection_closed_to_make_room_is_logged_with_its_peer() {
        let (_, logged, peer) = evict_one();
        let line = logged
            .lines()
            .find(|l| l.contains("closing the connection silent the longest"))
            .unwrap_or_else(|| panic!("no eviction line in {logged:?}"));
        assert!(line.contains(&format!("peer={peer}")), "{line}");
        assert!(line.contains("collector.max_connections"), "{line}");
    }
}
