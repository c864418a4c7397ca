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
use crate::clock::instant_after;
use crate::rate_limited_log::RateLimitedLog;
use crate::router::{self, RouterAnswer};
use crate::sampling::Sampling;

/// Where the sender thread writes batches of whole NT1 frames.
///
/// Called only from the sender thread, so implementations may block (briefly: shutdown waits
/// for the current call).
///
/// Nothing the sender thread records becomes a tree, so a transport may log through
/// `tracing` while `OcelotLayer` is installed; a thread it starts for itself should call
/// [`crate::record_nothing_on_this_thread`] first.
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

    /// A transport for a process forked from this one after the client was built: threads do
    /// not survive `fork`, so the child starts a sender thread of its own, which must not
    /// write into this transport's connection (the child shares it with the parent). Called
    /// once when the client's pipeline starts in a process (the child takes the one its parent
    /// made). `None`, the default, leaves such a child without a transport: its trees are
    /// dropped and counted ([`crate::DropReason::ForkedWithoutTransport`]).
    fn for_forked_process(&self) -> Option<Box<dyn Transport>> {
        None
    }

    /// Whether the last connection [`Transport::ready`] let go of turned out not to lead to a
    /// collector, so that every batch written on it since it was made is lost (the sender
    /// then counts their trees as dropped, [`crate::DropReason::NotCollector`], not sent).
    /// Says `true` once per such connection. The default, for transports without
    /// connections, is `false`.
    fn take_not_collector(&mut self) -> bool {
        false
    }

    /// Called once when the sender stops, after its last write, if anything was written on
    /// the current connection: a transport that can tell late that writes were lost (see
    /// [`Transport::take_not_collector`]) looks now, waiting at most `wait` for the sign.
    /// The default does nothing.
    fn last_check(&mut self, wait: Duration) {
        let _ = wait;
    }

    /// The last problem the transport met reaching a collector (an address that does not
    /// resolve or refuses, a peer that is not a collector), for
    /// [`crate::Client::last_transport_error`]. Kept after the transport recovers.
    fn last_error(&self) -> Option<&str> {
        None
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

    /// The same sink (in a real child, the child's copy of it).
    fn for_forked_process(&self) -> Option<Box<dyn Transport>> {
        Some(Box::new(self.clone()))
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
/// A connection that the collector closes (or that fails a write) sooner than this after it
/// was made counts as refused: the next collector is tried, and after the last one the
/// transport backs off. A collector whose slots are all taken, or a load balancer without a
/// backend, accepts and closes at once; reconnecting to it without a pause would make a
/// connection per batch (per poll when idle) and never fail over.
const STABLE_AFTER: Duration = Duration::from_secs(1);
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
    /// When `stream` was connected.
    connected_at: Instant,
    /// Index in `collectors` the next connect round starts at: past a collector that just
    /// closed a fresh connection.
    first: usize,
    backoff: Duration,
    next_attempt: Instant,
    connects: u64,
    /// The connection just let go of was not a collector's (see `take_not_collector`).
    not_collector: bool,
    last_error: Option<String>,
    /// Rate limits for the two kinds of problem worth a line on stderr.
    not_collector_log: RateLimitedLog,
    connect_log: RateLimitedLog,
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
            connected_at: now,
            first: 0,
            backoff: BACKOFF_START,
            next_attempt: now,
            connects: 0,
            not_collector: false,
            last_error: None,
            not_collector_log: RateLimitedLog::default(),
            connect_log: RateLimitedLog::default(),
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
            self.next_router_query = instant_after(now, self.router_retry);
            self.router_retry = self.router_retry.saturating_mul(2).min(self.router_refresh);
            return;
        }
        if let (Some(sampling), Some(answer)) = (&self.sampling, &answer) {
            sampling.apply_router(answer.block, answer.sample);
        }
        self.next_router_query = instant_after(now, self.router_refresh);
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
            self.first = 0;
            self.collectors = list;
        }
    }

    /// One connect round: the collectors from `first` on, in order, first reachable wins;
    /// after a round where none was, the next starts from the top after the backoff.
    fn connect(&mut self) -> bool {
        let mut failure = None;
        for address in self.collectors.iter().skip(self.first) {
            let connected = address
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve collector address {address}: {e}"))
                .and_then(|addrs| {
                    connect_first(addrs, CONNECT_TIMEOUT)
                        .map_err(|e| format!("cannot connect to collector {address}: {e}"))
                });
            match connected {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                    self.stream = Some((address.clone(), stream));
                    self.connected_at = Instant::now();
                    self.connects += 1;
                    return true;
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(failure) = failure {
            // Trees wait in the queue meanwhile; say why, so a typo does not look like a
            // collector that is down for a while.
            self.connect_log
                .log(|| format!("{failure} (trees wait in the queue; retrying)"));
            self.last_error = Some(failure);
        }
        self.first = 0;
        self.back_off();
        false
    }

    /// The peer of the current connection wrote `answer` (quoted): some other service (a web
    /// port, say) that read our frames as garbage and answered, so nothing written on the
    /// connection reached a collector. Treated as a collector that refuses, however long the
    /// connection was up, so the transport backs off instead of losing a batch per reconnect.
    fn not_a_collector(&mut self, answer: &str) {
        let Some((address, _)) = &self.stream else {
            return;
        };
        let problem = format!(
            "{address} is not a CAT collector: it answered {answer}; the trees written to it \
             are lost (counted as dropped, not_collector)"
        );
        self.not_collector_log.log(|| problem.clone());
        self.last_error = Some(problem);
        self.not_collector = true;
        self.disconnect_after(Duration::ZERO);
    }

    fn back_off(&mut self) {
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Forgets the connection: the collector closed it, or a write into it failed. One that
    /// had worked for [`STABLE_AFTER`] (the collector restarted, an idle connection was
    /// dropped) is replaced at once, from the first collector. One that did not is taken as
    /// that collector refusing: the round goes on with the next one, and backs off after the
    /// last, as when no collector accepts.
    fn disconnect(&mut self) {
        self.disconnect_after(self.connected_at.elapsed());
    }

    /// [`TcpTransport::disconnect`] of a connection that was up for `up_for`.
    fn disconnect_after(&mut self, up_for: Duration) {
        let Some((address, _)) = self.stream.take() else {
            return;
        };
        if up_for >= STABLE_AFTER {
            self.backoff = BACKOFF_START;
            self.first = 0;
            self.next_attempt = Instant::now();
            return;
        }
        self.first = self
            .collectors
            .iter()
            .position(|a| *a == address)
            .map_or(0, |i| i + 1);
        if self.first >= self.collectors.len() {
            self.first = 0;
            self.back_off();
        }
    }
}

/// Addresses of one name tried at most: each costs up to a connect timeout.
const MAX_ADDRESSES_PER_NAME: usize = 4;

/// The first of `addrs` (a name's addresses, as resolved) that accepts a connection within
/// `timeout`, or the last error. Not only the first address: `localhost` resolves to `::1`
/// before `127.0.0.1` on most Linux hosts, and a dual-stack name to its IPv6 address first,
/// while a collector listening on `0.0.0.0` takes IPv4 only.
pub(crate) fn connect_first(
    addrs: impl IntoIterator<Item = SocketAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
    for addr in addrs.into_iter().take(MAX_ADDRESSES_PER_NAME) {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Why `address` (`host:port`, `host`, an IP address, `[IPv6]:port`) can never be connected
/// to, or `Ok` if it may be. Only its form is checked: whether the host resolves is learnt
/// when connecting. Without this, `127.0.0.1:99999` became `127.0.0.1:99999:2280` (see
/// [`with_default_port`]) and failed for ever like a collector that is down.
pub(crate) fn check_address(address: &str) -> Result<(), String> {
    let address = address.trim();
    if address.is_empty() {
        return Err("it is empty".to_owned());
    }
    if address.contains("://") {
        return Err("give host:port, not a URL".to_owned());
    }
    if let Ok(socket) = address.parse::<SocketAddr>() {
        return check_port(socket.port());
    }
    if address.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = match address.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest
                .split_once(']')
                .ok_or("an IPv6 address opened with '[' is never closed with ']'")?;
            if ip.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("{ip:?} is not an IPv6 address"));
            }
            match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None if after.is_empty() => (None, None),
                None => return Err(format!("{after:?} after the IPv6 address")),
            }
        }
        None => match address.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err("an IPv6 address with a port goes in brackets: [::1]:2280".to_owned())
            }
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(address), None),
        },
    };
    if let Some(host) = host {
        let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if host.is_empty() || !host.chars().all(fits) {
            return Err(format!("{host:?} is not a host name"));
        }
    }
    match port {
        Some(port) => match port.parse::<u16>() {
            Ok(port) => check_port(port),
            Err(_) => Err(format!("port {port:?} is not a number from 1 to 65535")),
        },
        None => Ok(()),
    }
}

fn check_port(port: u16) -> Result<(), String> {
    if port == 0 {
        return Err("port 0 cannot be connected to".to_owned());
    }
    Ok(())
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
            match peer_state(stream) {
                PeerState::Open => return true,
                // The collector restarted, or something between dropped the idle connection:
                // writing into it would succeed and lose the batch. Connect again instead.
                PeerState::Closed => self.disconnect(),
                PeerState::Wrote(answer) => self.not_a_collector(&answer),
            }
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
            // Drop the connection (half a frame may be in it); the next `ready` connects again.
            self.disconnect();
        }
        result
    }

    fn connects(&self) -> u64 {
        self.connects
    }

    fn take_not_collector(&mut self) -> bool {
        std::mem::take(&mut self.not_collector)
    }

    /// Waits for an answer only on a connection younger than a second: a service
    /// that is not a collector answers the first batch and closes, so a connection that has
    /// lasted longer is a collector's, and a healthy app's shutdown waits for nothing.
    fn last_check(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Some((_, stream)) = &self.stream {
            if self.connected_at.elapsed() >= STABLE_AFTER {
                return;
            }
            match peer_state(stream) {
                PeerState::Open if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                PeerState::Open => return,
                PeerState::Closed => self.stream = None,
                PeerState::Wrote(answer) => self.not_a_collector(&answer),
            }
        }
    }

    fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The same collectors and router, unconnected: the child connects on its own.
    fn for_forked_process(&self) -> Option<Box<dyn Transport>> {
        let mut fresh = TcpTransport::new(
            self.collectors.clone(),
            self.router.clone(),
            self.router_refresh,
            self.domain.clone(),
            self.ip,
        );
        fresh.sampling.clone_from(&self.sampling);
        Some(Box::new(fresh))
    }
}

/// What the far end of a collector connection has done.
#[derive(Debug, PartialEq)]
enum PeerState {
    /// Nothing: still open.
    Open,
    /// Closed or reset it.
    Closed,
    /// Wrote to it (quoted for a log line): a collector never does, so the peer is not one.
    Wrote(String),
}

/// Bytes of an unexpected answer quoted in the log line: enough for an HTTP status line.
const ANSWER_QUOTE_BYTES: usize = 64;

/// What the peer of `stream` did, found with one `recv` that peeks without waiting.
fn peer_state(stream: &TcpStream) -> PeerState {
    use rustix::net::{recv, RecvFlags};
    let mut answer = [0u8; ANSWER_QUOTE_BYTES];
    match recv(stream, &mut answer, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
            PeerState::Open
        }
        Ok((n, _)) if n > 0 => PeerState::Wrote(quote_answer(&answer[..n.min(answer.len())])),
        _ => PeerState::Closed,
    }
}

/// The first line of `bytes` in quotes if it is printable text, else its length.
fn quote_answer(bytes: &[u8]) -> String {
    let line = bytes
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or(bytes);
    if !line.is_empty() && line.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(line))
    } else {
        format!("{} bytes that are not text", bytes.len())
    }
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

    /// `127.0.0.1:99999` used to be taken, made `127.0.0.1:99999:2280`, and never work.
    #[test]
    fn an_address_that_can_never_be_connected_to_is_told_apart() {
        for good in [
            "127.0.0.1",
            "127.0.0.1:2280",
            " collector.local ",
            "collector-1.local:9",
            "::1",
            "[::1]",
            "[::1]:2280",
            "fe80::1",
        ] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            (
                "127.0.0.1:99999",
                "port \"99999\" is not a number from 1 to 65535",
            ),
            ("host:", "port \"\" is not a number from 1 to 65535"),
            ("127.0.0.1:0", "port 0 cannot be connected to"),
            ("", "it is empty"),
            ("http://host:8080", "give host:port, not a URL"),
            ("my host:2280", "\"my host\" is not a host name"),
            (":2280", "\"\" is not a host name"),
            (
                "[::1",
                "an IPv6 address opened with '[' is never closed with ']'",
            ),
            ("[::1]x", "\"x\" after the IPv6 address"),
            ("[nope]:1", "\"nope\" is not an IPv6 address"),
        ] {
            assert_eq!(check_address(bad), Err(why.to_owned()), "{bad}");
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

    /// A collector that accepts every connection and closes it at once, as ours does when
    /// all its slots are taken. Returns its address.
    fn closing_collector() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        address
    }

    fn transport_to(collectors: Vec<String>) -> TcpTransport {
        TcpTransport::new(
            collectors,
            None,
            Duration::from_secs(60),
            "d".to_owned(),
            Ipv4Addr::LOCALHOST,
        )
    }

    /// Calls `ready` until `done` says so, for at most two seconds; whether it did.
    fn poll_ready_until(
        transport: &mut TcpTransport,
        mut done: impl FnMut(bool, &TcpTransport) -> bool,
    ) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let ready = transport.ready();
            if done(ready, transport) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// It used to reconnect at every `ready` (a connection per batch, or per millisecond while
    /// the sender polls), never pausing.
    #[test]
    fn a_collector_that_closes_every_new_connection_gets_the_backoff_not_a_reconnect_loop() {
        let mut transport = transport_to(vec![closing_collector()]);
        assert!(transport.ready(), "the collector accepts");
        let paused = poll_ready_until(&mut transport, |ready, _| !ready);
        assert!(
            paused,
            "still reconnecting after {} connects",
            transport.connects
        );
        assert!(transport.next_attempt > Instant::now());
        let first_pause = transport.backoff;
        // Each connection it closes at once doubles the pause, as a refused connect does.
        assert!(poll_ready_until(&mut transport, |ready, _| ready));
        assert!(poll_ready_until(&mut transport, |ready, _| !ready));
        assert_eq!(transport.backoff, first_pause * 2);
    }

    /// A router refresh of `Duration::MAX` ("ask once") used to panic the sender thread when
    /// the first answer came (`Instant + Duration` overflows), and nothing was sent after.
    #[test]
    fn a_router_refresh_of_duration_max_takes_the_answer_and_never_asks_again() {
        use std::io::Read as _;
        let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let collector_address = collector.local_addr().unwrap().to_string();
        let router = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let router_address = router.local_addr().unwrap().to_string();
        let body = format!("{{\"kvs\":{{\"routers\":\"{collector_address};\"}}}}");
        std::thread::spawn(move || {
            for conn in router.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = [0u8; 1024];
                let _ = conn.read(&mut request);
                let _ = write!(conn, "HTTP/1.0 200 OK\r\n\r\n{body}");
            }
        });
        let mut transport = TcpTransport::new(
            Vec::new(),
            Some(router_address),
            Duration::MAX,
            "d".to_owned(),
            Ipv4Addr::LOCALHOST,
        );
        let routed = poll_ready_until(&mut transport, |ready, t| {
            ready
                && t.stream
                    .as_ref()
                    .is_some_and(|(a, _)| *a == collector_address)
        });
        assert!(routed, "the router's collector was never used");
        assert!(transport.router_answer.is_none());
        assert!(transport.next_router_query > Instant::now() + Duration::from_secs(3600));
        drop(collector);
    }

    /// A name that resolves to several addresses (`localhost`: `::1`, then `127.0.0.1` on most
    /// Linux hosts) is reached on whichever of them accepts. Only the first address used to be
    /// tried, so a collector listening on `0.0.0.0` was never reached as `localhost`.
    #[test]
    fn a_name_whose_first_address_refuses_is_reached_on_the_next() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let live_address = live.local_addr().unwrap();
        let stream = connect_first([dead_address, live_address], CONNECT_TIMEOUT)
            .expect("the second address accepts");
        assert_eq!(stream.peer_addr().unwrap(), live_address);
    }

    /// It used to connect to the first collector again and again, never trying the second.
    #[test]
    fn a_collector_that_closes_every_new_connection_is_failed_over() {
        let healthy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let healthy_address = healthy.local_addr().unwrap().to_string();
        let mut transport = transport_to(vec![closing_collector(), healthy_address.clone()]);
        let failed_over = poll_ready_until(&mut transport, |ready, t| {
            ready
                && t.stream
                    .as_ref()
                    .is_some_and(|(a, _)| *a == healthy_address)
        });
        assert!(
            failed_over,
            "never moved to the collector that works ({} connects)",
            transport.connects
        );
        drop(healthy);
    }

    /// The web port (or any service that answers) read as a collector: its answer must be
    /// taken as "not a collector", the batch as lost, and the address backed off from, not
    /// as a collector that closed the connection.
    #[test]
    fn a_peer_that_answers_is_not_a_collector_and_is_backed_off_from() {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut request = [0u8; 64];
                let _ = conn.read(&mut request);
                let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        });
        let mut transport = transport_to(vec![address.clone()]);
        assert!(transport.ready(), "it accepts");
        transport.send(b"\0\0\0\x01x").unwrap();
        assert!(poll_ready_until(&mut transport, |ready, _| !ready));
        assert!(transport.take_not_collector());
        assert!(!transport.take_not_collector(), "said once per connection");
        assert!(transport.next_attempt > Instant::now(), "backs off");
        let error = transport.last_error().unwrap();
        assert!(
            error.starts_with(&format!(
                "{address} is not a CAT collector: it answered \"HTTP/1.1 400 Bad Request\""
            )),
            "{error}"
        );
    }

    #[test]
    fn an_answer_is_quoted_when_it_is_text_and_measured_when_not() {
        assert_eq!(
            quote_answer(b"HTTP/1.1 400 Bad Request\r\n"),
            "\"HTTP/1.1 400 Bad Request\""
        );
        assert_eq!(quote_answer(b"\x00\x01\x02"), "3 bytes that are not text");
    }
}
