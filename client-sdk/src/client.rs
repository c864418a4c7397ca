//! [`Client`]: configuration, the queue into the sender thread, and the global/bound client.
//!
//! A `Client` is a plain, cheaply cloned handle (an `Arc`). Tests and multi-service demos build
//! as many as they like; [`init`] merely stores one as the process default. Each thread uses
//! the client bound to it ([`Client::bind_to_current_thread`], [`with_client`]) or else the
//! global one; with neither, every macro is a no-op.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ocelot_protocol::{hour_of, MessageId};

use crate::heartbeat;
use crate::message_id_factory::{factory_for, MessageIdFactory};
use crate::record::{FinishedTree, HeaderTemplate};
use crate::sender;
use crate::stats::{Counters, DropReason, Stats};
use crate::transport::{TcpTransport, Transport};
use crate::tree_builder;

/// Default queue bound in trees (CAT's Java client queues 5000).
pub const DEFAULT_QUEUE_TREES: usize = 5000;
/// Default queue bound in estimated bytes: 16 MiB keeps a dead collector from growing the host.
pub const DEFAULT_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// CAT clients send a heartbeat once a minute.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// How often the router is asked again for the collector list.
pub const DEFAULT_ROUTER_REFRESH: Duration = Duration::from_secs(60);
/// CAT's default collector port.
pub const DEFAULT_COLLECTOR_PORT: u16 = 2280;

/// Builds a [`Client`]. Every setting has a default; `domain` should always be set.
pub struct ClientBuilder {
    domain: String,
    collectors: Vec<String>,
    router: Option<String>,
    router_refresh: Duration,
    ip: Option<Ipv4Addr>,
    hostname: Option<String>,
    queue_trees: usize,
    queue_bytes: usize,
    heartbeat_interval: Option<Duration>,
    mark_dir: Option<PathBuf>,
    transport: Option<Box<dyn Transport>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("domain", &self.domain)
            .field("collectors", &self.collectors)
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The application name (CAT "domain"). Default `unknown`, as CAT's Java client.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }

    /// Static collector addresses (`host:port`), tried in order with failover.
    pub fn collectors<I, S>(mut self, addresses: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.collectors = addresses.into_iter().map(Into::into).collect();
        self
    }

    /// A CAT router (`host:port` of the web server): the collector list comes from
    /// `GET /cat/s/router?op=json&domain=..&ip=..` and is refreshed periodically. Static
    /// collectors, if also given, are used until the router answers.
    pub fn router(mut self, address: impl Into<String>) -> Self {
        self.router = Some(address.into());
        self
    }

    /// How often the router is asked again. Default one minute.
    pub fn router_refresh(mut self, every: Duration) -> Self {
        self.router_refresh = every;
        self
    }

    /// The IPv4 address written into headers and message IDs. Default: the address of the
    /// interface that routes to the outside, else 127.0.0.1.
    pub fn ip(mut self, ip: Ipv4Addr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// The host name written into headers. Default: `$HOSTNAME`, `/etc/hostname`, else the IP.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Queue bound in trees. Default [`DEFAULT_QUEUE_TREES`].
    pub fn queue_trees(mut self, trees: usize) -> Self {
        self.queue_trees = trees.max(1);
        self
    }

    /// Queue bound in estimated bytes. Default [`DEFAULT_QUEUE_BYTES`].
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// Heartbeat interval; `None` turns the heartbeat thread off. Default one minute.
    pub fn heartbeat_interval(mut self, every: Option<Duration>) -> Self {
        self.heartbeat_interval = every;
        self
    }

    /// Where message-ID mark files live (see `message_id_factory`). Default
    /// `$TMPDIR/ocelot-client`. Used by the first client of a domain in the process.
    pub fn mark_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.mark_dir = Some(dir.into());
        self
    }

    /// Sends through `transport` instead of TCP (tests use [`crate::MemoryTransport`]).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Box::new(transport));
        self
    }

    /// Starts the sender (and heartbeat) thread and returns the client.
    pub fn build(self) -> Client {
        let ip = self.ip.unwrap_or_else(outbound_ipv4);
        let hostname = self.hostname.unwrap_or_else(|| local_hostname(ip));
        let mark_dir = self
            .mark_dir
            .unwrap_or_else(|| std::env::temp_dir().join("ocelot-client"));
        let ids = factory_for(&self.domain, Some(&mark_dir));
        let template = HeaderTemplate {
            domain: self.domain.clone(),
            ip: u32::from(ip),
            pid: ids.pid(),
            hostname,
            ip_address: ip.to_string(),
        };
        let transport = self.transport.unwrap_or_else(|| {
            Box::new(TcpTransport::new(
                self.collectors.clone(),
                self.router.clone(),
                self.router_refresh,
                self.domain.clone(),
                ip,
            ))
        });
        let (tx, rx) = crossbeam_channel::bounded(self.queue_trees);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            stop_now: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        });
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let sender_thread = sender::spawn(
            rx.clone(),
            transport,
            shared.clone(),
            template.clone(),
            done_tx,
        );
        let inner = Arc::new(Inner {
            ids,
            mark_dir,
            template,
            ip,
            queue: tx,
            queue_rx: rx,
            queue_bytes: self.queue_bytes as u64,
            shared,
            sender_thread: Mutex::new(sender_thread),
            sender_done: done_rx,
            heartbeat_stop: Mutex::new(None),
        });
        let client = Client { inner };
        if let Some(every) = self.heartbeat_interval {
            let stop = heartbeat::spawn(&client, every);
            *client
                .inner
                .heartbeat_stop
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = stop;
        }
        client
    }
}

/// State shared by the client handles and the sender thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    /// No new trees are accepted.
    pub(crate) closing: AtomicBool,
    /// The sender stops writing and counts what is left as dropped.
    pub(crate) stop_now: AtomicBool,
    /// Every handle is gone: nobody waits for the queue, so a sender that cannot write quits.
    pub(crate) abandoned: AtomicBool,
}

struct Inner {
    template: HeaderTemplate,
    ip: Ipv4Addr,
    ids: Arc<MessageIdFactory>,
    mark_dir: PathBuf,
    queue: Sender<FinishedTree>,
    /// Kept to read the depth; only the sender thread receives.
    queue_rx: Receiver<FinishedTree>,
    queue_bytes: u64,
    shared: Arc<Shared>,
    sender_thread: Mutex<Option<JoinHandle<()>>>,
    sender_done: Receiver<()>,
    heartbeat_stop: Mutex<Option<Sender<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: stop accepting, and let the sender drain the queue and exit
        // on its own (it sees the channel disconnect). Nothing here blocks.
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.abandoned.store(true, Ordering::Relaxed);
    }
}

/// A handle to one configured SDK instance: domain, IP, queue and sender thread.
///
/// Cheap to clone. Dropping the last handle lets the sender drain and exit in the background;
/// call [`Client::shutdown`] to wait for that with a bound.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("domain", &self.inner.template.domain)
            .field("ip", &self.inner.ip)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            domain: "unknown".to_owned(),
            collectors: Vec::new(),
            router: None,
            router_refresh: DEFAULT_ROUTER_REFRESH,
            ip: None,
            hostname: None,
            queue_trees: DEFAULT_QUEUE_TREES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            heartbeat_interval: Some(DEFAULT_HEARTBEAT_INTERVAL),
            mark_dir: None,
            transport: None,
        }
    }

    /// The domain trees are sent under.
    pub fn domain(&self) -> &str {
        &self.inner.template.domain
    }

    /// The IPv4 address in headers and IDs.
    pub fn ip(&self) -> Ipv4Addr {
        self.inner.ip
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner
            .shared
            .counters
            .snapshot(self.inner.queue_rx.len())
    }

    /// A fresh message ID of this client's domain.
    pub fn next_message_id(&self) -> MessageId {
        self.message_id_with(&self.inner.ids, self.domain())
    }

    /// `(hour, seq)` of a fresh ID of this client's domain at `hour`.
    pub(crate) fn next_id_parts(&self, hour: u64) -> (u64, u64) {
        self.inner.ids.next(hour)
    }

    /// [`Client::next_message_id`] formatted, with one allocation.
    pub(crate) fn next_message_id_string(&self) -> String {
        let (hour, seq) = self.inner.ids.next(hour_of(crate::clock::now_ms()));
        let mut id = String::with_capacity(self.domain().len() + 48);
        let _ = self.inner.template.write_id(&mut id, hour, seq);
        id
    }

    /// A fresh message ID for another domain with this client's IP, as a CAT caller makes for
    /// its callee (reference 1.3).
    pub fn message_id_for(&self, domain: &str) -> MessageId {
        if domain == self.domain() {
            return self.next_message_id();
        }
        let factory = factory_for(domain, Some(&self.inner.mark_dir));
        self.message_id_with(&factory, domain)
    }

    fn message_id_with(&self, factory: &MessageIdFactory, domain: &str) -> MessageId {
        let (hour, seq) = factory.next(hour_of(crate::clock::now_ms()));
        let mut id = MessageId::new(domain, u32::from(self.inner.ip), hour, seq);
        id.pid = factory.pid();
        id
    }

    /// Makes this client the one the current thread's macros use, until the thread ends or
    /// another client is bound. Returns the previously bound client.
    pub fn bind_to_current_thread(&self) -> Option<Client> {
        tree_builder::bind(Some(self.clone()))
    }

    /// Waits until everything produced so far has been sent or dropped, at most `timeout`.
    /// Returns whether it got there.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.stats();
            if s.produced <= s.sent + s.dropped_total() && s.queue_depth == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A guard that calls [`Client::shutdown`] with `timeout` when it is dropped: keep it in
    /// `main` (`let _shutdown = client.shutdown_on_drop(Duration::from_secs(2));`) and the
    /// trees queued when `main` returns (or unwinds) are sent, not lost, whichever way it
    /// ends. The global client ([`init`]) is never dropped, so without an explicit
    /// `shutdown` or this guard its last trees die with the process.
    #[must_use = "the client shuts down when the guard is dropped: keep it until the end of main"]
    pub fn shutdown_on_drop(&self, timeout: Duration) -> ShutdownOnDrop {
        ShutdownOnDrop {
            client: self.clone(),
            timeout,
        }
    }

    /// Stops accepting trees, gives the sender up to `timeout` to write what is queued, then
    /// stops it; whatever is left is counted as dropped ([`DropReason::Shutdown`]). Returns
    /// whether everything queued was sent. Later trees from any handle are dropped and counted.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        if let Some(stop) = self
            .inner
            .heartbeat_stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            drop(stop);
        }
        self.inner.shared.closing.store(true, Ordering::Relaxed);
        let flushed = self.flush(deadline.saturating_duration_since(Instant::now()));
        self.inner.shared.stop_now.store(true, Ordering::Relaxed);
        let grace = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        if self.inner.sender_done.recv_timeout(grace).is_ok() {
            if let Some(handle) = self
                .inner
                .sender_thread
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                let _ = handle.join();
            }
        }
        flushed
    }

    /// Hands a finished tree to the sender; never blocks. Drops (and counts) it when the queue
    /// is full in trees or bytes, or the client is closing.
    pub(crate) fn submit(&self, tree: FinishedTree) {
        let shared = &self.inner.shared;
        let counters = &shared.counters;
        counters.produced.fetch_add(1, Ordering::Relaxed);
        if shared.closing.load(Ordering::Relaxed) {
            counters.drop_trees(DropReason::Shutdown, 1);
            return;
        }
        let bytes = tree.estimated_bytes as u64;
        let before = counters.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.inner.queue_bytes {
            counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            counters.drop_trees(DropReason::QueueBytes, 1);
            return;
        }
        match self.inner.queue.try_send(tree) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                counters.drop_trees(DropReason::QueueFull, 1);
            }
            Err(TrySendError::Disconnected(_)) => {
                counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                counters.drop_trees(DropReason::Shutdown, 1);
            }
        }
    }

    /// A weak handle for background threads that must not keep the client alive.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }
}

/// A handle that does not keep the client alive.
#[derive(Clone)]
pub(crate) struct WeakClient(std::sync::Weak<Inner>);

impl WeakClient {
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|inner| Client { inner })
    }
}

/// Shuts its client down when dropped ([`Client::shutdown_on_drop`]).
#[derive(Debug)]
pub struct ShutdownOnDrop {
    client: Client,
    timeout: Duration,
}

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.client.shutdown(self.timeout);
    }
}

static GLOBAL: OnceLock<Client> = OnceLock::new();

/// Installs `client` as the process-wide default. Returns `false` (and changes nothing) if a
/// global client was already installed.
pub fn init(client: Client) -> bool {
    GLOBAL.set(client).is_ok()
}

/// The process-wide default client, if [`init`] was called.
pub fn global() -> Option<&'static Client> {
    GLOBAL.get()
}

/// Runs `f` with `client` bound to the current thread, then restores the previous binding.
pub fn with_client<R>(client: &Client, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Option<Client>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(previous) = self.0.take() {
                tree_builder::bind(previous);
            }
        }
    }
    let _restore = Restore(Some(tree_builder::bind(Some(client.clone()))));
    f()
}

/// The address of the interface that routes to the outside world: connecting a UDP socket
/// sends nothing but makes the kernel pick the source address.
fn outbound_ipv4() -> Ipv4Addr {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .ok()
        .and_then(|a| match a.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::LOCALHOST)
}

fn local_hostname(ip: Ipv4Addr) -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| ip.to_string())
}
