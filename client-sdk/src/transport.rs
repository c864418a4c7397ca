//! The last stage of the pipeline: where encoded frames go.
//!
//! [`TcpTransport`] talks to CAT collectors (static list or router), with failover and
//! reconnect backoff. [`MemoryTransport`] keeps frames in memory for tests; its
//! [`MemorySink`] decodes them back into trees.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocelot_protocol::{decode_frame, DecodeOptions, MessageTree, LENGTH_PREFIX_BYTES};

use crate::router;

/// Where the sender thread writes batches of whole NT1 frames.
///
/// Called only from the sender thread, so implementations may block (briefly: shutdown waits
/// for the current call).
pub trait Transport: Send + 'static {
    /// Whether a batch can be sent now, connecting if needed. While this says `false`, trees
    /// stay in the queue (which is bounded; callers drop when it is full).
    fn ready(&mut self) -> bool {
        true
    }

    /// Writes one batch of whole frames. An error loses the batch (its trees are counted as
    /// dropped) and should make the next [`Transport::ready`] reconnect.
    fn send(&mut self, frames: &[u8]) -> io::Result<()>;

    /// Successful connects so far (for the counters); transports without connections say 0.
    fn connects(&self) -> u64 {
        0
    }
}

/// Frames kept in memory, shared with a [`MemorySink`].
#[derive(Debug, Clone, Default)]
pub struct MemoryTransport {
    shared: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    bytes: Vec<u8>,
    writes: u64,
    down: bool,
}

/// The reading side of a [`MemoryTransport`].
#[derive(Debug, Clone)]
pub struct MemorySink {
    shared: Arc<Mutex<MemoryState>>,
}

impl MemoryTransport {
    /// A transport and the sink that reads what it received.
    pub fn new() -> (MemoryTransport, MemorySink) {
        let transport = MemoryTransport::default();
        let sink = MemorySink {
            shared: transport.shared.clone(),
        };
        (transport, sink)
    }
}

impl Transport for MemoryTransport {
    fn ready(&mut self) -> bool {
        !self.shared.lock().unwrap_or_else(|e| e.into_inner()).down
    }

    fn send(&mut self, frames: &[u8]) -> io::Result<()> {
        let mut state = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        state.bytes.extend_from_slice(frames);
        state.writes += 1;
        Ok(())
    }
}

impl MemorySink {
    /// All bytes received so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes
            .clone()
    }

    /// How many `send` calls (batches) arrived.
    pub fn writes(&self) -> u64 {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).writes
    }

    /// Every received frame, decoded.
    ///
    /// # Panics
    /// If the received bytes are not whole NT1 frames (a bug in the SDK).
    pub fn trees(&self) -> Vec<MessageTree> {
        split_frames(&self.bytes())
            .map(|frame| {
                decode_frame(frame, &DecodeOptions::default()).expect("the SDK writes valid frames")
            })
            .collect()
    }

    /// Forgets everything received so far.
    pub fn clear(&self) {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes
            .clear();
    }

    /// Simulates a collector that is down (`true`) or back (`false`).
    pub fn set_down(&self, down: bool) {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).down = down;
    }
}

/// Splits a buffer of whole frames.
pub(crate) fn split_frames(mut bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if bytes.len() < LENGTH_PREFIX_BYTES {
            return None;
        }
        let len = u32::from_be_bytes(bytes[..4].try_into().expect("four bytes")) as usize;
        let total = (LENGTH_PREFIX_BYTES + len).min(bytes.len());
        let (frame, rest) = bytes.split_at(total);
        bytes = rest;
        Some(frame)
    })
}

/// How long one connect attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// A write that takes longer than this counts as failed; it bounds shutdown.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// First wait after every collector refused; doubled per failed round up to the maximum.
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// TCP to CAT collectors: the static list or the router's, first reachable wins.
#[derive(Debug)]
pub struct TcpTransport {
    collectors: Vec<String>,
    router: Option<String>,
    router_refresh: Duration,
    next_router_query: Instant,
    domain: String,
    ip: Ipv4Addr,
    stream: Option<(String, TcpStream)>,
    backoff: Duration,
    next_attempt: Instant,
    connects: u64,
}

impl TcpTransport {
    /// A transport for `collectors` (`host:port`), optionally refreshed from a CAT router at
    /// `router` (`host:port`) every `router_refresh`.
    pub fn new(
        collectors: Vec<String>,
        router: Option<String>,
        router_refresh: Duration,
        domain: String,
        ip: Ipv4Addr,
    ) -> Self {
        let now = Instant::now();
        TcpTransport {
            collectors,
            router,
            router_refresh,
            next_router_query: now,
            domain,
            ip,
            stream: None,
            backoff: BACKOFF_START,
            next_attempt: now,
            connects: 0,
        }
    }

    fn refresh_router(&mut self) {
        let Some(router) = &self.router else { return };
        let now = Instant::now();
        if now < self.next_router_query {
            return;
        }
        self.next_router_query = now + self.router_refresh;
        if let Some(list) = router::query(router, &self.domain, self.ip) {
            if !list.is_empty() && list != self.collectors {
                // Move to the new list's first entry unless we are already on one of them.
                let connected_to_listed = self
                    .stream
                    .as_ref()
                    .is_some_and(|(addr, _)| list.contains(addr));
                if !connected_to_listed {
                    self.stream = None;
                    self.next_attempt = now;
                }
                self.collectors = list;
            }
        }
    }

    fn connect(&mut self) -> bool {
        for address in &self.collectors {
            let Some(addr) = resolve(address) else {
                continue;
            };
            if let Ok(stream) = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                let _ = stream.set_nodelay(true);
                let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                self.stream = Some((address.clone(), stream));
                self.backoff = BACKOFF_START;
                self.connects += 1;
                return true;
            }
        }
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        false
    }
}

fn resolve(address: &str) -> Option<SocketAddr> {
    address.to_socket_addrs().ok()?.next()
}

impl Transport for TcpTransport {
    fn ready(&mut self) -> bool {
        self.refresh_router();
        if self.stream.is_some() {
            return true;
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        self.connect()
    }

    fn send(&mut self, frames: &[u8]) -> io::Result<()> {
        let Some((_, stream)) = &mut self.stream else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let result = stream.write_all(frames);
        if result.is_err() {
            // Drop the connection; the next `ready` fails over to the next collector.
            self.stream = None;
        }
        result
    }

    fn connects(&self) -> u64 {
        self.connects
    }
}
