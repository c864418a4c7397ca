//! The last stage of the pipeline: where encoded frames go.
//!
//! [`TcpTransport`] talks to CAT collectors (static list or router), with failover and
//! reconnect backoff. [`MemoryTransport`] keeps frames in memory for tests; its
//! [`MemorySink`] decodes them back into trees.
//!
//! Design constraint: router discovery never holds up sending. The router is asked on a
//! short-lived helper thread and its answer picked up by a later [`Transport::ready`], so a
//! router that is down, slow or silent costs the sender thread nothing; meanwhile trees go to
//! the collectors already known.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use ocelot_protocol::{decode_frame, DecodeOptions, MessageTree, LENGTH_PREFIX_BYTES};

use crate::client::DEFAULT_COLLECTOR_PORT;
use crate::router::{self, RouterAnswer};
use crate::sampling::Sampling;

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
/// First wait before asking the router again after a failed query; doubled per failure up to
/// the refresh interval. A router that starts a moment after the app (common when both are
/// deployed together) is then found within seconds, not one refresh interval later.
const ROUTER_RETRY_START: Duration = Duration::from_secs(1);
/// CAT's default HTTP port, where a router address without a port is asked
/// (`http-port` in CAT's `client.xml`).
const DEFAULT_ROUTER_PORT: u16 = 8080;

/// TCP to CAT collectors: the static list or the router's, first reachable wins.
#[derive(Debug)]
pub struct TcpTransport {
    collectors: Vec<String>,
    router: Option<String>,
    router_refresh: Duration,
    next_router_query: Instant,
    router_retry: Duration,
    /// The answer of the router query running on a helper thread, if one is running.
    router_answer: Option<Receiver<Option<RouterAnswer>>>,
    /// Where the router's `block` and `sample` go: the client's shared settings.
    sampling: Option<Arc<Sampling>>,
    domain: String,
    ip: Ipv4Addr,
    stream: Option<(String, TcpStream)>,
    backoff: Duration,
    next_attempt: Instant,
    connects: u64,
}

impl TcpTransport {
    /// A transport for `collectors` (`host:port`, or a bare host for CAT's port
    /// [`DEFAULT_COLLECTOR_PORT`]), optionally refreshed from a CAT router at `router`
    /// (`host:port`, port 8080 if left out) every `router_refresh`.
    pub fn new(
        collectors: Vec<String>,
        router: Option<String>,
        router_refresh: Duration,
        domain: String,
        ip: Ipv4Addr,
    ) -> Self {
        let now = Instant::now();
        TcpTransport {
            collectors: collectors
                .iter()
                .map(|a| with_default_port(a, DEFAULT_COLLECTOR_PORT))
                .collect(),
            router: router.map(|a| with_default_port(&a, DEFAULT_ROUTER_PORT)),
            router_refresh,
            next_router_query: now,
            router_retry: ROUTER_RETRY_START.min(router_refresh),
            router_answer: None,
            sampling: None,
            domain,
            ip,
            stream: None,
            backoff: BACKOFF_START,
            next_attempt: now,
            connects: 0,
        }
    }

    /// Hands every router answer's `block` and `sample` to `sampling` (the client's).
    pub(crate) fn with_sampling(mut self, sampling: Arc<Sampling>) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Picks up a finished router query, and starts one when it is due. Never waits.
    fn refresh_router(&mut self) {
        let Some(router) = &self.router else { return };
        let now = Instant::now();
        if let Some(answer) = &self.router_answer {
            match answer.try_recv() {
                Ok(list) => {
                    self.router_answer = None;
                    self.apply_router_answer(list, now);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.router_answer = None;
                    self.apply_router_answer(None, now);
                }
            }
            return;
        }
        if now < self.next_router_query {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (router, domain, ip) = (router.clone(), self.domain.clone(), self.ip);
        let spawned = std::thread::Builder::new()
            .name("ocelot-router".to_owned())
            .spawn(move || {
                let _ = tx.send(router::query(&router, &domain, ip));
            });
        match spawned {
            Ok(_) => self.router_answer = Some(rx),
            Err(_) => self.apply_router_answer(None, now),
        }
    }

    /// Schedules the next query (soon after a failure, a refresh interval after an answer),
    /// switches to a new collector list and passes `block` and `sample` on. A failed query
    /// changes nothing: the last answer's settings stay.
    fn apply_router_answer(&mut self, answer: Option<RouterAnswer>, now: Instant) {
        let list: Vec<String> = answer
            .as_ref()
            .map(|a| a.routers.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| with_default_port(a, DEFAULT_COLLECTOR_PORT))
            .collect();
        if list.is_empty() {
            self.next_router_query = now + self.router_retry;
            self.router_retry = (self.router_retry * 2).min(self.router_refresh);
            return;
        }
        if let (Some(sampling), Some(answer)) = (&self.sampling, &answer) {
            sampling.apply_router(answer.block, answer.sample);
        }
        self.next_router_query = now + self.router_refresh;
        self.router_retry = ROUTER_RETRY_START.min(self.router_refresh);
        if list != self.collectors {
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

/// `address` with `:port` added if it names no port. CAT's `client.xml` gives a server's IP
/// and port apart, so a bare host is a natural thing to configure; without a port it would
/// never resolve, and the transport would never connect.
pub(crate) fn with_default_port(address: &str, port: u16) -> String {
    let address = address.trim();
    if address.parse::<SocketAddr>().is_ok() {
        return address.to_owned();
    }
    if let Ok(ip) = address.parse::<IpAddr>() {
        // Also brackets a bare IPv6 address.
        return SocketAddr::new(ip, port).to_string();
    }
    let bracketed_ipv6 = address.starts_with('[') && address.ends_with(']');
    match address.rsplit_once(':') {
        Some((host, p)) if !bracketed_ipv6 && !host.contains(':') && p.parse::<u16>().is_ok() => {
            address.to_owned()
        }
        _ => format!("{address}:{port}"),
    }
}

impl Transport for TcpTransport {
    fn ready(&mut self) -> bool {
        self.refresh_router();
        if let Some((_, stream)) = &self.stream {
            if !peer_closed(stream) {
                return true;
            }
            // The collector restarted, or something between dropped the idle connection:
            // writing into it would succeed and lose the batch. Connect again instead.
            self.stream = None;
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

/// Whether the collector closed (or reset) `stream`. Collectors never write on it, so
/// anything to read, the end of the stream, or an error means the connection is gone; one
/// `recv` that peeks without waiting tells.
fn peer_closed(stream: &TcpStream) -> bool {
    use rustix::net::{recv, RecvFlags};
    let mut byte = [0u8; 1];
    !matches!(
        recv(stream, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_port_gets_the_default_one() {
        let cases = [
            ("127.0.0.1", "127.0.0.1:2280"),
            (" 10.0.0.1 ", "10.0.0.1:2280"),
            ("127.0.0.1:33280", "127.0.0.1:33280"),
            ("collector.local", "collector.local:2280"),
            ("collector.local:9", "collector.local:9"),
            ("::1", "[::1]:2280"),
            ("[::1]", "[::1]:2280"),
            ("[::1]:9", "[::1]:9"),
        ];
        for (given, expected) in cases {
            assert_eq!(with_default_port(given, 2280), expected, "{given}");
        }
    }

    #[test]
    fn a_transport_given_bare_hosts_uses_the_default_ports() {
        let transport = TcpTransport::new(
            vec!["127.0.0.1".to_owned()],
            Some("127.0.0.1".to_owned()),
            Duration::from_secs(60),
            "d".to_owned(),
            Ipv4Addr::LOCALHOST,
        );
        assert_eq!(transport.collectors, ["127.0.0.1:2280"]);
        assert_eq!(transport.router.as_deref(), Some("127.0.0.1:8080"));
    }
}
