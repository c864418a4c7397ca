//! [`Client`]: configuration, the queue into the sender thread, and the global/bound client.
//!
//! A `Client` is a plain, cheaply cloned handle (an `Arc`). Tests and multi-service demos build
//! as many as they like; [`init`] merely stores one as the process default. Each thread uses
//! the client bound to it ([`Client::bind_to_current_thread`], [`with_client`]) or else the
//! global one; with neither, every macro is a no-op.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use ocelot_protocol::{hour_of, MessageId};

use crate::build_error::{check_domain, usable_domain, BuildError};
use crate::heartbeat;
use crate::message_id_factory::{factory_for, factory_without_disk, MessageIdFactory};
use crate::metric_aggregator::{self, Amount, MetricAggregator, Refused};
use crate::process::{current_pid, PerProcess};
use crate::record::{FinishedTree, HeaderTemplate, Record, Text, TreeIds};
use crate::sampling::{Decision, Sampling};
use crate::sender;
use crate::stats::{Counters, DropReason, Stats};
use crate::transport::{check_address, TcpTransport, Transport};
use crate::tree_aggregator::{self, TreeAggregator};
use crate::tree_builder;

/// Default queue bound in trees (CAT's Java client queues 5000).
pub const DEFAULT_QUEUE_TREES: usize = 5000;
/// The largest queue bound in trees. The queue allocates (and writes) a slot of about
/// 160 bytes per tree when the client is built, so a larger bound would take memory the byte
/// bound never lets trees use (a tree costs at least 32 estimated bytes: 16 MiB holds at most
/// 2^19 of them), and `usize::MAX` made the channel panic in `build`.
pub const MAX_QUEUE_TREES: usize = 1 << 20;
/// Default queue bound in estimated bytes: 16 MiB keeps a dead collector from growing the host.
pub const DEFAULT_QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// CAT clients send a heartbeat once a minute.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// How often the router is asked again for the collector list.
pub const DEFAULT_ROUTER_REFRESH: Duration = Duration::from_secs(60);
/// CAT's default collector port.
pub const DEFAULT_COLLECTOR_PORT: u16 = 2280;

/// How many aggregator trees wait for room in a full queue before the oldest is dropped.
/// Each of them may carry the tallies of thousands of trees or metric calls, so a short
/// burst that fills the queue should delay them, not lose them.
const MAX_HELD_AGGREGATOR_TREES: usize = 64;

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
    sample_ratio: f64,
    transport: Option<Box<dyn Transport>>,
    /// The first environment variable [`ClientBuilder::with_env`] could not read.
    env_problem: Option<BuildError>,
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

    /// Queue bound in trees. Default [`DEFAULT_QUEUE_TREES`]; at most [`MAX_QUEUE_TREES`]
    /// (the queue allocates a slot per tree up front). 0 is a configuration error (see
    /// [`ClientBuilder::try_build`]).
    pub fn queue_trees(mut self, trees: usize) -> Self {
        self.queue_trees = trees.min(MAX_QUEUE_TREES);
        self
    }

    /// Queue bound in estimated bytes. Default [`DEFAULT_QUEUE_BYTES`]. 0 is a configuration
    /// error (see [`ClientBuilder::try_build`]).
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

    /// The share of discardable trees sent as they are (CAT's `sample`, reference 1.5): at
    /// `0.25`, every 4th; the rest are added up and sent about once a second as
    /// `System/TransactionAggregator` and `System/EventAggregator` trees, which the
    /// collector's Transaction and Event reports count as the trees themselves. Trees with a
    /// failure, heartbeat, metric or long transaction are always sent. A router's `sample`
    /// overrides this while it gives one. Default 1.0 (send every tree); values outside
    /// `(0, 1]` mean 1.0.
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio;
        self
    }

    /// Takes the settings the environment gives, over those given before (give the code's
    /// defaults first, then call this, so that a deployment can change them without a new
    /// build):
    ///
    /// | variable | setting |
    /// |---|---|
    /// | `OCELOT_DOMAIN` | [`ClientBuilder::domain`] |
    /// | `OCELOT_COLLECTORS` | [`ClientBuilder::collectors`]: `host:port`, separated by commas or spaces |
    /// | `OCELOT_ROUTER` | [`ClientBuilder::router`]: `host:port` of the web server |
    /// | `OCELOT_SAMPLE_RATIO` | [`ClientBuilder::sample_ratio`]: a number in `(0, 1]` |
    /// | `OCELOT_HEARTBEAT_SECS` | [`ClientBuilder::heartbeat_interval`]: seconds, `0` for none |
    ///
    /// A variable that is not set, or set empty, changes nothing. One that cannot be read (a
    /// ratio that is no number, a value that is not UTF-8) is a [`BuildError::Env`] for
    /// [`ClientBuilder::try_build`], and left out, said on stderr, by
    /// [`ClientBuilder::build`].
    ///
    /// ```
    /// use ocelot_client::Client;
    ///
    /// // OCELOT_DOMAIN=order-service OCELOT_COLLECTORS=10.0.0.5:2280,10.0.0.6:2280 ./app
    /// let client = Client::builder()
    ///     .domain("order-service")
    ///     .collectors(["127.0.0.1:2280"])
    ///     .with_env()
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn with_env(self) -> Self {
        self.with_vars(|name| std::env::var_os(name))
    }

    /// [`ClientBuilder::with_env`] reading the variables through `var`.
    pub(crate) fn with_vars(mut self, var: impl Fn(&str) -> Option<OsString>) -> Self {
        // A value that is not UTF-8 is a problem, not taken as unset: else a stray byte
        // would quietly leave the code's defaults in place.
        let mut not_utf8 = None;
        let mut given = |name: &'static str| match var(name)?.into_string() {
            Ok(value) => Some(value).filter(|value| !value.trim().is_empty()),
            Err(raw) => {
                not_utf8.get_or_insert((name, raw.to_string_lossy().into_owned()));
                None
            }
        };
        let (domain, collectors, router, ratio, secs) = (
            given("OCELOT_DOMAIN"),
            given("OCELOT_COLLECTORS"),
            given("OCELOT_ROUTER"),
            given("OCELOT_SAMPLE_RATIO"),
            given("OCELOT_HEARTBEAT_SECS"),
        );
        if let Some((variable, value)) = not_utf8 {
            self.env_problem.get_or_insert(BuildError::Env {
                variable,
                value,
                reason: "is not valid UTF-8",
            });
        }
        if let Some(domain) = domain {
            self.domain = domain.trim().to_owned();
        }
        if let Some(list) = collectors {
            let collectors: Vec<String> = list
                .split([',', ' '])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            // Only separators (`,`): as if empty, not a list of none.
            if !collectors.is_empty() {
                self.collectors = collectors;
            }
        }
        if let Some(router) = router {
            self.router = Some(router.trim().to_owned());
        }
        let mut unreadable = |variable: &'static str, value: String, reason: &'static str| {
            self.env_problem.get_or_insert(BuildError::Env {
                variable,
                value,
                reason,
            });
        };
        let mut sample_ratio = None;
        if let Some(ratio) = ratio {
            match ratio.trim().parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 => sample_ratio = Some(r),
                _ => unreadable("OCELOT_SAMPLE_RATIO", ratio, "is no number in (0, 1]"),
            }
        }
        let mut heartbeat = None;
        if let Some(secs) = secs {
            match secs.trim().parse::<u64>() {
                Ok(0) => heartbeat = Some(None),
                Ok(s) => heartbeat = Some(Some(Duration::from_secs(s))),
                Err(_) => unreadable(
                    "OCELOT_HEARTBEAT_SECS",
                    secs,
                    "is no whole number of seconds",
                ),
            }
        }
        if let Some(ratio) = sample_ratio {
            self.sample_ratio = ratio;
        }
        if let Some(every) = heartbeat {
            self.heartbeat_interval = every;
        }
        self
    }

    /// Sends through `transport` instead of TCP (tests use [`crate::MemoryTransport`]).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Box::new(transport));
        self
    }

    /// Starts the sender (and heartbeat) thread and returns the client, or says what in the
    /// configuration would keep trees from arriving as meant ([`BuildError`]): a domain the
    /// collector refuses, a collector or router address that can never be connected to (a
    /// port over 65535, a URL, a host name with a space), no collector and no router, a
    /// queue bound of 0. For applications that would rather not start with such a typo.
    ///
    /// Only the form of the settings is checked: whether a host resolves, or a collector is
    /// up, is learnt when connecting, and retried while the application runs (see
    /// [`Client::last_transport_error`]).
    ///
    /// ```
    /// use ocelot_client::{BuildError, Client};
    ///
    /// let refused = Client::builder()
    ///     .domain("order-service")
    ///     .collectors(["127.0.0.1:99999"])
    ///     .try_build()
    ///     .unwrap_err();
    /// assert!(matches!(refused, BuildError::Address { .. }));
    /// assert_eq!(
    ///     refused.to_string(),
    ///     "bad collector address \"127.0.0.1:99999\": port \"99999\" is not a number from 1 to 65535"
    /// );
    /// ```
    pub fn try_build(self) -> Result<Client, BuildError> {
        match self.problem() {
            Some(error) => Err(error),
            None => Ok(self.start()),
        }
    }

    /// Starts the sender (and heartbeat) thread and returns the client. Never fails, so that
    /// a mistake in the telemetry settings cannot stop the application: each problem
    /// [`ClientBuilder::try_build`] would refuse is worked around, and said on stderr (or
    /// `tracing`) and in [`Client::last_transport_error`]:
    ///
    /// * a domain the collector refuses is sent as one it takes: `unknown` for an empty one,
    ///   else each refused character as `_`, cut to 128 bytes;
    /// * an address that can never be connected to is left out;
    /// * with no collector and no router, trees wait in the queue and are dropped once it
    ///   is full ([`DropReason::QueueFull`](crate::DropReason::QueueFull));
    /// * a queue bound of 0 means the default.
    pub fn build(mut self) -> Client {
        let mut said = Vec::new();
        while let Some(error) = self.problem() {
            let workaround = match &error {
                BuildError::Domain { .. } => {
                    self.domain = usable_domain(&self.domain);
                    format!("sending as {:?}", self.domain)
                }
                BuildError::Address {
                    address, router, ..
                } => {
                    if *router {
                        self.router = None;
                    } else {
                        self.collectors.retain(|a| a != address);
                    }
                    "left out".to_owned()
                }
                BuildError::NoCollector => "trees are dropped once the queue is full".to_owned(),
                BuildError::Env { .. } => {
                    self.env_problem = None;
                    "left out".to_owned()
                }
                BuildError::ZeroQueue { setting } => {
                    if *setting == "queue_trees" {
                        self.queue_trees = DEFAULT_QUEUE_TREES;
                        format!("using the default, {DEFAULT_QUEUE_TREES}")
                    } else {
                        self.queue_bytes = DEFAULT_QUEUE_BYTES;
                        format!("using the default, {DEFAULT_QUEUE_BYTES}")
                    }
                }
            };
            let line = format!("{error}; {workaround}");
            crate::rate_limited_log::warn(&format!("{line} (try_build returns this as an error)"));
            said.push(line);
            if error == BuildError::NoCollector {
                // The last check, and nothing to change: the client is built as it is.
                break;
            }
        }
        let client = self.start();
        if !said.is_empty() {
            *client
                .here()
                .shared
                .transport_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(said.join("; "));
        }
        client
    }

    /// The first problem [`ClientBuilder::try_build`] refuses, in the order `build` works
    /// around them. An address, and the lack of one, is not checked with a custom transport,
    /// which does not use them.
    fn problem(&self) -> Option<BuildError> {
        if let Some(error) = &self.env_problem {
            return Some(error.clone());
        }
        if let Err(reason) = check_domain(&self.domain) {
            return Some(BuildError::Domain {
                domain: self.domain.clone(),
                reason,
            });
        }
        if self.queue_trees == 0 {
            return Some(BuildError::ZeroQueue {
                setting: "queue_trees",
            });
        }
        if self.queue_bytes == 0 {
            return Some(BuildError::ZeroQueue {
                setting: "queue_bytes",
            });
        }
        if self.transport.is_some() {
            return None;
        }
        let collectors = self.collectors.iter().map(|a| (a, false));
        let bad_address = collectors
            .chain(self.router.iter().map(|a| (a, true)))
            .find_map(|(address, router)| {
                check_address(address)
                    .err()
                    .map(|reason| BuildError::Address {
                        address: address.clone(),
                        router,
                        reason,
                    })
            });
        if bad_address.is_some() {
            return bad_address;
        }
        let nowhere = self.collectors.is_empty() && self.router.is_none();
        nowhere.then_some(BuildError::NoCollector)
    }

    fn start(self) -> Client {
        let ip = self.ip.unwrap_or_else(outbound_ipv4);
        let hostname = self.hostname.unwrap_or_else(|| local_hostname(ip));
        let mark_dir = self
            .mark_dir
            .unwrap_or_else(|| std::env::temp_dir().join("ocelot-client"));
        let ids = factory_for(&self.domain, &mark_dir);
        let sampling = Arc::new(Sampling::new(self.sample_ratio));
        let transport = self.transport.unwrap_or_else(|| {
            Box::new(
                TcpTransport::new(
                    self.collectors.clone(),
                    self.router.clone(),
                    self.router_refresh,
                    self.domain.clone(),
                    ip,
                )
                .with_sampling(sampling.clone()),
            )
        });
        let inner = Arc::new(Inner {
            config: Config {
                domain: self.domain,
                ip,
                hostname,
                mark_dir,
                queue_trees: self.queue_trees,
                queue_bytes: self.queue_bytes as u64,
            },
            sampling,
            pipelines: PerProcess::new(),
        });
        let client = Client { inner };
        let pid = current_pid();
        let pipeline = client.inner.pipelines.get_or_make(pid, |_| {
            Pipeline::start(
                &client.inner.config,
                &client.inner.sampling,
                pid,
                ids,
                Some(transport),
            )
        });
        if let Some(every) = self.heartbeat_interval {
            let stop = heartbeat::spawn(&client, every);
            *pipeline
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
    /// The sender thread has stopped and taken its last look at the queue: a tree queued
    /// after that is dropped by whoever queued it (see [`Pipeline::try_submit`]).
    pub(crate) sender_gone: AtomicBool,
    /// The transport's last problem reaching a collector ([`Client::last_transport_error`]).
    pub(crate) transport_error: Mutex<Option<String>>,
}

impl Shared {
    /// Takes every tree left in `queue` and counts it dropped for [`DropReason::Shutdown`],
    /// plus `in_hand` trees already taken from it and not sent.
    pub(crate) fn drop_queued(&self, queue: &Receiver<FinishedTree>, in_hand: u64) {
        let mut left = in_hand;
        while let Ok(tree) = queue.try_recv() {
            left += 1;
            self.counters
                .queued_bytes
                .fetch_sub(tree.estimated_bytes as u64, Ordering::Relaxed);
        }
        self.counters.drop_trees(DropReason::Shutdown, left);
    }
}

struct Inner {
    config: Config,
    /// `block` and `sample`: the router's (the transport updates them) or the builder's.
    sampling: Arc<Sampling>,
    /// The queue, sender thread, ID factory and aggregators of each process the client is
    /// used in: the one that built it, and each process forked from it after that, whose
    /// own are made on first use there (see `process.rs`).
    pipelines: PerProcess<Arc<Pipeline>>,
}

/// What the builder said, the same in every process.
struct Config {
    domain: String,
    ip: Ipv4Addr,
    hostname: String,
    mark_dir: PathBuf,
    queue_trees: usize,
    queue_bytes: u64,
}

/// A client's state in one process: the queue, the sender thread that empties it, the ID
/// factory and the aggregators. A process forked from the one that built the client makes
/// its own on first use, and never touches the parent's copy.
pub(crate) struct Pipeline {
    /// The process this pipeline belongs to.
    pid: u32,
    template: HeaderTemplate,
    ids: Arc<MessageIdFactory>,
    /// The client's (shared by its pipelines).
    sampling: Arc<Sampling>,
    queue: Sender<FinishedTree>,
    /// Kept to read the depth; only the sender thread receives.
    queue_rx: Receiver<FinishedTree>,
    queue_bytes: u64,
    shared: Arc<Shared>,
    /// Metrics logged outside any transaction, until the next flush.
    metrics: MetricAggregator,
    /// Trees that sampling did not send, until the next flush.
    trees: TreeAggregator,
    /// Held from draining the aggregators until their trees are queued, so that
    /// [`Client::flush`] cannot see empty aggregators and an empty queue while the sender
    /// thread holds drained tallies not yet queued.
    ///
    /// Inside: the aggregator trees that found the queue full (in trees or bytes), oldest
    /// first, each with the reason it was last refused. They are retried before anything
    /// newer and are not counted as produced until they are queued or dropped.
    aggregators_flush: Mutex<VecDeque<HeldTree>>,
    sender_thread: Mutex<Option<JoinHandle<()>>>,
    sender_done: Receiver<()>,
    heartbeat_stop: Mutex<Option<Sender<()>>>,
    /// No transport in this process (forked, and the parent's transport made none for it):
    /// every tree is dropped ([`DropReason::ForkedWithoutTransport`]).
    without_transport: bool,
    /// The transport of the first process forked from this one, taken there
    /// ([`Transport::for_forked_process`]). Nobody locks it in this process.
    transport_for_fork: Mutex<Option<Box<dyn Transport>>>,
}

impl Pipeline {
    /// Starts the pipeline of process `pid`, with its sender thread if there is a
    /// `transport`.
    fn start(
        config: &Config,
        sampling: &Arc<Sampling>,
        pid: u32,
        ids: Arc<MessageIdFactory>,
        transport: Option<Box<dyn Transport>>,
    ) -> Arc<Pipeline> {
        let template = HeaderTemplate {
            domain: config.domain.clone(),
            ip: u32::from(config.ip),
            pid: ids.pid(),
            hostname: config.hostname.clone(),
            ip_address: config.ip.to_string(),
        };
        let (tx, rx) = crossbeam_channel::bounded(config.queue_trees);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            closing: AtomicBool::new(false),
            stop_now: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            sender_gone: AtomicBool::new(false),
            transport_error: Mutex::new(None),
        });
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let pipeline = Arc::new(Pipeline {
            pid,
            template: template.clone(),
            ids,
            sampling: sampling.clone(),
            queue: tx,
            queue_rx: rx.clone(),
            queue_bytes: config.queue_bytes,
            shared: shared.clone(),
            metrics: MetricAggregator::default(),
            trees: TreeAggregator::default(),
            aggregators_flush: Mutex::new(VecDeque::new()),
            sender_thread: Mutex::new(None),
            sender_done: done_rx,
            heartbeat_stop: Mutex::new(None),
            without_transport: transport.is_none(),
            transport_for_fork: Mutex::new(transport.as_ref().and_then(|t| t.for_forked_process())),
        });
        if let Some(transport) = transport {
            // The sender thread flushes the aggregators through a weak handle, so that it
            // does not keep the pipeline (and the queue's sending side) alive.
            let sender_thread = sender::spawn(
                rx,
                transport,
                shared,
                template,
                Arc::downgrade(&pipeline),
                done_tx,
            );
            *pipeline
                .sender_thread
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = sender_thread;
        }
        pipeline
    }

    /// The pipeline of process `pid`, forked from the one whose pipeline is `parent`: a
    /// factory of its own, made without the disk (the parent holds the domain's mark, so its
    /// IDs carry the child's pid), its own queue, and a sender thread with the transport the
    /// parent's made for it. No heartbeat thread: the parent's heartbeats stand for the
    /// machine.
    fn forked(
        config: &Config,
        sampling: &Arc<Sampling>,
        pid: u32,
        parent: Option<&Arc<Pipeline>>,
    ) -> Arc<Pipeline> {
        let ids = factory_without_disk(&config.domain, &config.mark_dir, pid)
            .unwrap_or_else(|| Arc::new(MessageIdFactory::with_pid(pid, crate::clock::now_ms())));
        // Only ever locked in a child, by the one thread making that child's pipeline.
        let transport = parent
            .and_then(|p| p.transport_for_fork.try_lock().ok())
            .and_then(|mut t| t.take());
        Pipeline::start(config, sampling, pid, ids, transport)
    }
}

/// An aggregator tree waiting for room in the queue.
struct HeldTree {
    tree: FinishedTree,
    /// Why the queue last refused it ([`DropReason::QueueFull`] or
    /// [`DropReason::QueueBytes`]): the reason counted if it is dropped in the end.
    reason: DropReason,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: queue what this process's aggregators hold, stop
        // accepting, and let the sender drain the queue and exit on its own (it sees the
        // channel disconnect). Nothing here blocks. The pipelines of other processes (copies
        // in a forked child) are left alone, and not dropped (see `process.rs`).
        if let Some(pipeline) = self.pipelines.get(current_pid()) {
            pipeline.flush_aggregators(true);
            pipeline.shared.closing.store(true, Ordering::Relaxed);
            pipeline.shared.abandoned.store(true, Ordering::Relaxed);
        }
    }
}

impl Pipeline {
    /// Hands a finished tree to the sender; never blocks. Drops (and counts) it when the queue
    /// is full in trees or bytes, the client is closing, or the router says `block=true`.
    pub(crate) fn submit(&self, tree: FinishedTree) {
        if let Err((_, reason)) = self.try_submit(tree) {
            self.count_dropped(reason);
        }
    }

    /// Tries to queue a tree; never blocks. A queued tree is counted as produced. A refused
    /// one is given back with the reason, and nothing is counted: the caller either counts it
    /// produced and dropped, or keeps it to try again.
    // The tree comes back by value, not boxed: a refusal must not allocate.
    #[allow(clippy::result_large_err)]
    fn try_submit(&self, tree: FinishedTree) -> Result<(), (FinishedTree, DropReason)> {
        let shared = &self.shared;
        let counters = &shared.counters;
        if shared.closing.load(Ordering::Relaxed) {
            return Err((tree, DropReason::Shutdown));
        }
        #[cfg(all(test, not(loom)))]
        tests::after_closing_check();
        if self.without_transport {
            return Err((tree, DropReason::ForkedWithoutTransport));
        }
        if self.sampling.is_blocked() {
            return Err((tree, DropReason::Blocked));
        }
        let bytes = tree.estimated_bytes as u64;
        let before = counters.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.queue_bytes {
            counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return Err((tree, DropReason::QueueBytes));
        }
        // Counted before it is queued, so that the sender can never count it sent before it
        // is counted produced (which would let `Client::flush` finish too early); taken back
        // if the queue refuses it.
        counters.produced.fetch_add(1, Ordering::Relaxed);
        let refused = match self.queue.try_send(tree) {
            Ok(()) => {
                // `closing` was clear when checked above, but a whole shutdown may have run
                // since, and its sender thread left with its last look at the queue: nobody
                // would send this tree or count it. The fences pair with the sender's (see
                // `SenderThread::run`): either its last look finds the tree, or this finds
                // it gone and drops what it left, this tree included.
                fence(Ordering::SeqCst);
                if shared.sender_gone.load(Ordering::Relaxed) {
                    shared.drop_queued(&self.queue_rx, 0);
                }
                return Ok(());
            }
            Err(TrySendError::Full(tree)) => (tree, DropReason::QueueFull),
            Err(TrySendError::Disconnected(tree)) => (tree, DropReason::Shutdown),
        };
        counters.produced.fetch_sub(1, Ordering::Relaxed);
        counters.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        Err(refused)
    }

    /// Drains the metric and tree aggregators into the queue, a tree per hour (and kind) they
    /// hold tallies of, more for a metric drain past `METRICS_PER_TREE`; with `close`, they
    /// take nothing more. Allocates nothing when they are empty.
    ///
    /// Trees held back by an earlier full queue go first, in order, and new trees wait behind
    /// them. With `close` nothing is held any longer: what the queue still refuses is dropped
    /// and counted.
    pub(crate) fn flush_aggregators(&self, close: bool) {
        self.drain_aggregators(close);
        if close {
            self.drop_held();
        }
    }

    /// [`Pipeline::flush_aggregators`] without the dropping: what the queue refuses is held
    /// back, even with `close`.
    fn drain_aggregators(&self, close: bool) {
        let mut held = self
            .aggregators_flush
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.queue_held(&mut held);
        let drained = self.metrics.drain(close);
        for records in drained.trees {
            let tree = self.aggregated_tree(
                records,
                metric_aggregator::THREAD_ID,
                metric_aggregator::THREAD_NAME,
            );
            self.submit_or_hold(&mut held, tree);
        }
        for records in self.trees.drain(close) {
            let tree = self.aggregated_tree(
                records,
                metric_aggregator::THREAD_ID,
                tree_aggregator::THREAD_NAME,
            );
            self.submit_or_hold(&mut held, tree);
        }
    }

    /// Drops and counts every held-back aggregator tree.
    fn drop_held(&self) {
        let mut held = self
            .aggregators_flush
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while let Some(tree) = held.pop_front() {
            self.count_dropped(tree.reason);
        }
    }

    /// Queues the held-back aggregator trees that now fit; returns how many still wait.
    /// [`Client::flush`] calls this while it waits, so that it does not finish with trees
    /// still held.
    fn retry_held(&self) -> usize {
        let mut held = self
            .aggregators_flush
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.queue_held(&mut held);
        held.len()
    }

    /// Queues held trees from the oldest, stopping at the first one the queue refuses for
    /// room, so that they go out in the order they were made. A tree refused for any other
    /// reason (closing, `block=true`) is dropped and counted, as `submit` would.
    fn queue_held(&self, held: &mut VecDeque<HeldTree>) {
        while let Some(HeldTree { tree, .. }) = held.pop_front() {
            match self.try_submit(tree) {
                Ok(()) => {}
                Err((tree, reason @ (DropReason::QueueFull | DropReason::QueueBytes))) => {
                    held.push_front(HeldTree { tree, reason });
                    return;
                }
                Err((_, reason)) => self.count_dropped(reason),
            }
        }
    }

    /// Queues a new aggregator tree, or holds it back when the queue has no room (or older
    /// trees already wait). Past [`MAX_HELD_AGGREGATOR_TREES`] the oldest held tree is
    /// dropped and counted.
    fn submit_or_hold(&self, held: &mut VecDeque<HeldTree>, tree: FinishedTree) {
        if let Some(last) = held.back() {
            // The queue refused an older tree: this one waits behind it, for the same reason.
            let reason = last.reason;
            held.push_back(HeldTree { tree, reason });
        } else {
            match self.try_submit(tree) {
                Ok(()) => {}
                Err((tree, reason @ (DropReason::QueueFull | DropReason::QueueBytes))) => {
                    held.push_back(HeldTree { tree, reason });
                }
                Err((_, reason)) => self.count_dropped(reason),
            }
        }
        while held.len() > MAX_HELD_AGGREGATOR_TREES {
            if let Some(oldest) = held.pop_front() {
                self.count_dropped(oldest.reason);
            }
        }
    }

    /// Counts a tree that never got into the queue as produced and dropped for `reason`.
    fn count_dropped(&self, reason: DropReason) {
        let counters = &self.shared.counters;
        counters.produced.fetch_add(1, Ordering::Relaxed);
        counters.drop_trees(reason, 1);
    }

    /// An aggregator's tree under an ID of its own.
    fn aggregated_tree(
        &self,
        records: Vec<Record>,
        thread_id: u64,
        thread_name: &str,
    ) -> FinishedTree {
        let hour = hour_of(records[0].timestamp_us / 1000);
        let estimated_bytes = records.iter().map(Record::estimated_bytes).sum();
        FinishedTree {
            records,
            ids: TreeIds {
                own_id: Some(self.ids.next(hour)),
                ..TreeIds::default()
            },
            thread_id,
            thread_name: Arc::from(thread_name),
            estimated_bytes,
        }
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
            .field("domain", &self.inner.config.domain)
            .field("ip", &self.inner.config.ip)
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
            sample_ratio: 1.0,
            transport: None,
            env_problem: None,
        }
    }

    /// The domain trees are sent under.
    pub fn domain(&self) -> &str {
        &self.inner.config.domain
    }

    /// The IPv4 address in headers and IDs.
    pub fn ip(&self) -> Ipv4Addr {
        self.inner.config.ip
    }

    /// This client's pipeline in process `pid` (a pid the caller read: see `process.rs`),
    /// made now if `pid` is a process forked from the one that built the client and this is
    /// the client's first use there.
    pub(crate) fn pipeline(&self, pid: u32) -> &Arc<Pipeline> {
        let inner = &*self.inner;
        inner.pipelines.get_or_make(pid, |parent| {
            Pipeline::forked(&inner.config, &inner.sampling, pid, parent)
        })
    }

    /// This client's pipeline in this process, by a fresh reading of the pid: for the paths
    /// that are not per tree, and those where an ID leaves the tree.
    fn here(&self) -> &Arc<Pipeline> {
        self.pipeline(current_pid())
    }

    /// A snapshot of the counters (of this process: a process forked from the one that
    /// built the client counts its own, from 0).
    pub fn stats(&self) -> Stats {
        let pipeline = self.here();
        pipeline.shared.counters.snapshot(pipeline.queue_rx.len())
    }

    /// The last problem the transport met reaching a collector, if any: an address that does
    /// not resolve or refuses connections, or one that answered like some other service (the
    /// web port, say). It stays after the transport recovers; read [`Client::stats`] for
    /// whether trees are arriving. The same problems are written to stderr (or `tracing`, see
    /// the `tracing` feature), at most once a minute each. A custom [`Transport`] reports its own through
    /// [`Transport::last_error`].
    pub fn last_transport_error(&self) -> Option<String> {
        self.here()
            .shared
            .transport_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A fresh message ID of this client's domain.
    pub fn next_message_id(&self) -> MessageId {
        self.message_id_with(&self.here().ids, self.domain())
    }

    /// [`Client::next_message_id`] formatted, with one allocation.
    pub(crate) fn next_message_id_string(&self) -> String {
        let pipeline = self.here();
        let (hour, seq) = pipeline.ids.next(hour_of(crate::clock::now_ms()));
        let mut id = String::with_capacity(self.domain().len() + 48);
        let _ = pipeline.template.write_id(&mut id, hour, seq);
        id
    }

    /// A fresh message ID for another domain with this client's IP, as a CAT caller makes for
    /// its callee (reference 1.3). Never waits for the disk: the first ID for a domain comes
    /// from a factory made without it (see `message_id_factory.rs`).
    pub fn message_id_for(&self, domain: &str) -> MessageId {
        if domain == self.domain() {
            return self.next_message_id();
        }
        let pid = current_pid();
        let factory = factory_without_disk(domain, &self.inner.config.mark_dir, pid)
            .unwrap_or_else(|| Arc::new(MessageIdFactory::with_pid(pid, crate::clock::now_ms())));
        self.message_id_with(&factory, domain)
    }

    fn message_id_with(&self, factory: &MessageIdFactory, domain: &str) -> MessageId {
        let (hour, seq) = factory.next(hour_of(crate::clock::now_ms()));
        let mut id = MessageId::new(domain, u32::from(self.inner.config.ip), hour, seq);
        id.pid = factory.pid();
        id
    }

    /// Makes this client the one the current thread's macros use, until the thread ends or
    /// another client is bound. Returns the previously bound client.
    pub fn bind_to_current_thread(&self) -> Option<Client> {
        tree_builder::bind(Some(self.clone()))
    }

    /// Queues what the metric and tree aggregators hold, then waits until everything produced
    /// so far has been sent, dropped or aggregated, at most `timeout`. Returns whether it got
    /// there. Aggregator trees held back by a full queue count as not there yet: they are
    /// offered to the queue again while it waits.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = crate::clock::instant_after(Instant::now(), timeout);
        let pipeline = self.here();
        pipeline.flush_aggregators(false);
        loop {
            // Aggregator trees held back by a full queue are not counted yet: keep offering
            // them to the queue, and do not finish while any still wait.
            let held = pipeline.retry_held();
            let s = self.stats();
            if held == 0 && s.all_accounted_for() && s.queue_depth == 0 {
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
    /// trees queued when `main` returns (or unwinds) are sent, not lost. The global client
    /// ([`init`]) is never dropped, so without an explicit `shutdown` or this guard its last
    /// trees die with the process.
    ///
    /// Not covered, because no destructor runs: `std::process::exit`, a panic with
    /// `panic = "abort"`, and a signal's default action, notably the SIGTERM that systemd,
    /// Kubernetes and Docker send to stop a service. A service should handle SIGTERM and
    /// call [`Client::shutdown`] there (or return from `main`).
    #[must_use = "the client shuts down when the guard is dropped: keep it until the end of main"]
    pub fn shutdown_on_drop(&self, timeout: Duration) -> ShutdownOnDrop {
        ShutdownOnDrop {
            client: self.clone(),
            timeout,
        }
    }

    /// Queues what the metric and tree aggregators hold, stops accepting trees, gives the sender up to
    /// `timeout` to write what is queued, then stops it; whatever is left is counted as dropped
    /// ([`DropReason::Shutdown`]). Aggregator trees held back by a full queue are offered to it
    /// again until the timeout; those the queue still refuses are counted as dropped for that reason
    /// ([`DropReason::QueueFull`] or [`DropReason::QueueBytes`]). Returns whether everything queued was sent. Later trees from
    /// any handle are dropped and counted, and later metrics are no longer aggregated: each is
    /// a tree of its own, dropped and counted the same way.
    ///
    /// With heartbeats on, and anything dropped so far, it first queues one last heartbeat:
    /// drop counters travel only in heartbeats, and a process that lives less than a minute
    /// would otherwise never report its losses.
    ///
    /// In a process forked from the one that built the client, this shuts down that
    /// process's pipeline only.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = crate::clock::instant_after(Instant::now(), timeout);
        let pipeline = self.here();
        let heartbeats = pipeline
            .heartbeat_stop
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some();
        let stats = self.stats();
        if heartbeats && stats.dropped_total() + stats.dropped_metric_names_full > 0 {
            // Drop counters reach the server only in heartbeats, once a minute: a process that
            // ends sooner would take its losses with it. One last heartbeat tells them. What
            // dropped them was often a full queue, so give it room first.
            while pipeline.queue.is_full() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            heartbeat::send_heartbeat(self);
        }
        // Before `closing`: the aggregators' last trees must still be accepted. Those that
        // meet a full queue (each may carry the counts of thousands of trees) wait for room
        // as long as the timeout allows, as queued trees wait for the sender.
        pipeline.drain_aggregators(true);
        while pipeline.retry_held() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        pipeline.drop_held();
        pipeline.shared.closing.store(true, Ordering::Relaxed);
        let flushed = self.flush(deadline.saturating_duration_since(Instant::now()));
        pipeline.shared.stop_now.store(true, Ordering::Relaxed);
        let grace = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        if pipeline.sender_done.recv_timeout(grace).is_ok() {
            if let Some(handle) = pipeline
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

    /// Whether sampling sends the finished tree `records` or aggregates it.
    pub(crate) fn sampling_decision(&self, records: &[Record]) -> Decision {
        self.inner.sampling.decide(records)
    }

    /// A weak handle for background threads that must not keep the client alive.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.inner))
    }

    /// Whether `other` is a handle to the same client.
    pub(crate) fn is(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Pipeline {
    /// `(hour, seq)` of a fresh ID of the client's domain at `hour`.
    pub(crate) fn next_id_parts(&self, hour: u64) -> (u64, u64) {
        self.ids.next(hour)
    }

    /// Adds a metric logged outside any transaction, made at `now_ms` on thread number
    /// `thread`, to the aggregator; a metric the aggregator has no room for is dropped and
    /// counted. Gives the name back when the aggregator is closed (shutdown): the caller then
    /// logs the metric as a tree of its own.
    pub(crate) fn aggregate_metric(
        &self,
        thread: u64,
        name: Text,
        amount: Amount,
        now_ms: u64,
    ) -> Result<(), Text> {
        match self.metrics.add(self.pid, thread, name, amount, now_ms) {
            Ok(()) => Ok(()),
            Err(Refused::Full) => {
                self.shared
                    .counters
                    .drop_trees(DropReason::MetricNamesFull, 1);
                Ok(())
            }
            Err(Refused::Closed(name)) => Err(name),
        }
    }

    /// Adds a finished tree that sampling did not send to the tree aggregator, in the shard of
    /// thread number `thread`, and counts it. Returns `false`, leaving `records` as they were,
    /// when the aggregator refused it: the caller sends it instead.
    pub(crate) fn aggregate_tree(&self, thread: u64, records: &mut [Record]) -> bool {
        if !self.trees.add(self.pid, thread, records) {
            return false;
        }
        self.shared.counters.count_aggregated();
        true
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
///
/// A tree belongs to the client that started its root. Called inside a transaction of
/// another client, `f` records into trees of `client`'s own (its first transaction or event
/// starts one), and the outer tree is neither given to `client` nor split: it goes on after
/// `f` as if `f` had recorded nothing; in that case a transaction `f` leaves open (a guard
/// kept past it) ends, with its tree, when `with_client` returns, and a guard of the outer
/// tree moved into `f` acts on the outer tree there: its data, status, `fail` (and the
/// `Error` event it logs) and its end go to its own transaction. Called inside a transaction
/// of the same client, or outside any, `f` records as code without `with_client` would, into
/// the thread's tree.
pub fn with_client<R>(client: &Client, f: impl FnOnce() -> R) -> R {
    tree_builder::with_bound(client, f)
}

/// Makes the current thread one that records nothing: transactions, events and metrics
/// started on it, through the macros or the `tracing` layer, become no tree (and cost no
/// message ID). The sender thread is such a thread already. Call it first thing on a
/// thread a [`Transport`](crate::Transport) starts for itself (an I/O worker, a reconnect
/// loop) if anything on it may log through `tracing` while `OcelotLayer` is installed:
/// otherwise each batch it sends would make the next one. It cannot be undone.
pub fn record_nothing_on_this_thread() {
    tree_builder::mark_sdk_thread();
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

// Not in the loom model's build: these use the factory's test helpers, which it leaves out.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::process::tests::{another_pid, pretend_pid};
    use crate::{
        current_message_id, event, in_transaction, metric_count, transaction, Context, MemorySink,
        MemoryTransport,
    };

    const WAIT: Duration = Duration::from_secs(5);

    /// The variables `vars` names, as `with_env` would read them.
    fn from(vars: &[(&str, &str)]) -> ClientBuilder {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Client::builder()
            .domain("from-code")
            .router("ocelot:8080")
            .with_vars(|name| vars.get(name).map(OsString::from))
    }

    #[test]
    fn the_environment_changes_the_settings_it_names_and_no_others() {
        let builder = from(&[
            ("OCELOT_DOMAIN", " order-service "),
            (
                "OCELOT_COLLECTORS",
                "10.0.0.5:2280, 10.0.0.6:2280 10.0.0.7:2280",
            ),
            ("OCELOT_ROUTER", ""),
            ("OCELOT_SAMPLE_RATIO", "0.25"),
            ("OCELOT_HEARTBEAT_SECS", "0"),
        ]);
        assert_eq!(builder.domain, "order-service");
        assert_eq!(
            builder.collectors,
            ["10.0.0.5:2280", "10.0.0.6:2280", "10.0.0.7:2280"]
        );
        assert_eq!(
            builder.router.as_deref(),
            Some("ocelot:8080"),
            "empty: unchanged"
        );
        assert_eq!(builder.sample_ratio, 0.25);
        assert_eq!(builder.heartbeat_interval, None);
        assert!(builder.problem().is_none());
        let kept = Client::builder()
            .collectors(["10.0.0.9:2280"])
            .with_vars(|name| (name == "OCELOT_COLLECTORS").then(|| ",".into()));
        assert_eq!(
            kept.collectors,
            ["10.0.0.9:2280"],
            "a list of separators changes nothing"
        );
        let unchanged = from(&[]);
        assert_eq!(unchanged.domain, "from-code");
        assert_eq!(
            unchanged.heartbeat_interval,
            Some(DEFAULT_HEARTBEAT_INTERVAL)
        );
    }

    #[test]
    fn a_variable_that_cannot_be_read_is_refused_or_left_out() {
        let refused = from(&[("OCELOT_SAMPLE_RATIO", "half")])
            .transport(MemoryTransport::new().0)
            .try_build()
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "OCELOT_SAMPLE_RATIO=\"half\" is no number in (0, 1]"
        );
        let builder = from(&[
            ("OCELOT_HEARTBEAT_SECS", "1m"),
            ("OCELOT_SAMPLE_RATIO", "2"),
        ]);
        assert!(matches!(
            builder.problem(),
            Some(BuildError::Env {
                variable: "OCELOT_SAMPLE_RATIO",
                ..
            })
        ));
        assert_eq!(builder.sample_ratio, 1.0);
        assert_eq!(builder.heartbeat_interval, Some(DEFAULT_HEARTBEAT_INTERVAL));
        // `build` leaves it out and starts.
        let client = builder.transport(MemoryTransport::new().0).build();
        assert!(client
            .last_transport_error()
            .is_some_and(|e| e.contains("OCELOT_SAMPLE_RATIO")));
    }

    /// A value that is not UTF-8 was read as unset: the code's defaults went on silently.
    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_refused_naming_it_or_left_out() {
        use std::os::unix::ffi::OsStringExt;

        for variable in [
            "OCELOT_DOMAIN",
            "OCELOT_COLLECTORS",
            "OCELOT_ROUTER",
            "OCELOT_SAMPLE_RATIO",
            "OCELOT_HEARTBEAT_SECS",
        ] {
            let builder = Client::builder()
                .domain("from-code")
                .collectors(["10.0.0.9:2280"])
                .with_vars(|name| {
                    (name == variable).then(|| OsString::from_vec(b"shop\xff".to_vec()))
                });
            assert_eq!(
                builder.problem(),
                Some(BuildError::Env {
                    variable,
                    value: "shop\u{fffd}".to_owned(),
                    reason: "is not valid UTF-8",
                })
            );
            assert_eq!(
                (builder.domain.as_str(), &builder.collectors[..]),
                ("from-code", &["10.0.0.9:2280".to_owned()][..]),
                "{variable}: left out"
            );
            let refused = builder
                .transport(MemoryTransport::new().0)
                .try_build()
                .unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!("{variable}=\"shop\u{fffd}\" is not valid UTF-8")
            );
        }
    }

    thread_local! {
        /// What [`after_closing_check`] runs next on this thread.
        static AFTER_CLOSING_CHECK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// A seam in `Pipeline::try_submit`, between its `closing` check and the queue: runs, once,
    /// what a test set on the submitting thread.
    pub(super) fn after_closing_check() {
        if let Some(hook) = AFTER_CLOSING_CHECK.with(|hook| hook.borrow_mut().take()) {
            hook();
        }
    }

    /// A tree that passed the `closing` check just before a shutdown, and reached the queue
    /// only once the shutdown was over and its sender thread gone, was counted produced and
    /// then never sent nor dropped: the counters stopped adding up. Its caller drops it now.
    #[test]
    fn a_tree_queued_after_a_whole_shutdown_is_counted_dropped() {
        let marks = tempfile::tempdir().unwrap();
        let (client, sink) = forkable_client("late-tree", marks.path());
        let shutting_down = client.clone();
        AFTER_CLOSING_CHECK.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || assert!(shutting_down.shutdown(WAIT))));
        });
        with_client(&client, || drop(transaction!("URL", "/late")));
        let stats = client.stats();
        assert_eq!(stats.produced, 1, "{stats:?}");
        assert_eq!(
            stats.sent + stats.dropped_total(),
            stats.produced,
            "{stats:?}"
        );
        assert_eq!(stats.dropped_shutdown, 1, "{stats:?}");
        assert_eq!((stats.queue_depth, stats.queued_bytes), (0, 0), "{stats:?}");
        assert!(sink.trees().is_empty());
    }

    fn forkable_client(domain: &str, marks: &std::path::Path) -> (Client, MemorySink) {
        let (transport, sink) = MemoryTransport::new();
        let client = Client::builder()
            .domain(domain)
            .heartbeat_interval(None)
            .mark_dir(marks)
            .transport(transport)
            .build();
        (client, sink)
    }

    /// What a child forked after `build` (a prefork server's worker) sees, the pid aside: the
    /// parent's counters and queue, and no sender thread. It must count IDs of its own and
    /// ship its trees through a sender of its own.
    #[test]
    fn a_forked_child_gets_its_own_ids_queue_and_sender_thread() {
        let marks = tempfile::tempdir().unwrap();
        let (client, sink) = forkable_client("forked-client", marks.path());
        with_client(&client, || drop(transaction!("URL", "/parent")));
        assert!(client.flush(WAIT));
        let parent = Arc::clone(client.here());

        let child_pid = another_pid(3);
        pretend_pid(Some(child_pid));
        with_client(&client, || {
            for _ in 0..3 {
                drop(transaction!("URL", "/child"));
            }
        });
        let child = Arc::clone(client.here());
        let child_flushed = client.flush(WAIT);
        let child_stats = client.stats();
        let child_had_sender = child.sender_thread.lock().unwrap().is_some();
        let child_shut_down = client.shutdown(WAIT);
        pretend_pid(None);

        assert!(
            !Arc::ptr_eq(&parent, &child),
            "the parent's pipeline reused"
        );
        assert!(child_had_sender, "no sender thread in the child");
        assert!(child_flushed && child_shut_down, "{child_stats:?}");
        assert_eq!((child_stats.produced, child_stats.sent), (3, 3));
        assert_eq!(
            client.stats().produced,
            1,
            "the child counted in the parent"
        );

        // The parent goes on drawing IDs where the child's copy of its counter would have.
        let parent_ids: Vec<String> = (0..5)
            .map(|_| client.next_message_id().to_string())
            .collect();
        let trees = sink.trees();
        assert_eq!(trees.len(), 4);
        let ids: Vec<MessageId> = trees
            .iter()
            .map(|t| t.header.message_id.parse().unwrap())
            .collect();
        assert_eq!(ids[0].pid, None);
        for id in &ids[1..] {
            assert_eq!(id.pid, Some(child_pid), "{id}");
        }
        let mut all: Vec<String> = ids.iter().map(ToString::to_string).collect();
        all.extend(parent_ids);
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "parent and child made the same ID");
    }

    /// A tree open on the forking thread ends in both processes. If its ID had already left
    /// it in the parent (read for a log line, given to a callee as the parent of a
    /// `RemoteCall`, a cut tree's continuation), the parent's copy is sent under that ID: the
    /// child's copy must not be sent under it too.
    #[test]
    fn a_tree_open_at_the_fork_whose_id_was_drawn_ends_in_the_child_under_its_own_id() {
        let marks = tempfile::tempdir().unwrap();
        let (client, sink) = forkable_client("forked-open-tree", marks.path());
        let child_pid = another_pid(5);
        let drawn_in_parent = with_client(&client, || {
            let t = transaction!("URL", "/open-at-fork");
            let id = current_message_id().expect("an open tree");
            pretend_pid(Some(child_pid));
            drop(t);
            id
        });
        let child_flushed = client.flush(WAIT);
        pretend_pid(None);
        assert!(child_flushed);
        let trees = sink.trees();
        assert_eq!(trees.len(), 1);
        let id: MessageId = trees[0].header.message_id.parse().unwrap();
        assert_ne!(
            id.to_string(),
            drawn_in_parent,
            "the child sent its copy under the parent's ID"
        );
        assert_eq!(id.pid, Some(child_pid), "{id}");
    }

    /// IDs adopted from a caller for the next root (`ctx.adopt()` before the request's root
    /// starts) wait on the forking thread in both processes, or in a future made before the
    /// fork. The parent's root is sent under the adopted ID; the child's, whichever way it
    /// takes the IDs, must be sent under one of its own, still linked to the caller.
    #[test]
    fn ids_adopted_for_the_next_root_before_a_fork_name_no_tree_of_the_child() {
        let marks = tempfile::tempdir().unwrap();
        let (client, sink) = forkable_client("forked-pending", marks.path());
        let caller = Context {
            root_id: "caller-0a000001-490000-1".to_owned(),
            parent_id: "caller-0a000001-490000-2".to_owned(),
            child_id: client.next_message_id().to_string(),
        };
        let child_pid = another_pid(6);
        let roots: [fn(); 3] = [
            || drop(transaction!("URL", "/callee")),
            || event!("Callee", "leaf"),
            || drop(Context::for_remote_call("forked-pending-next", "Next.call")),
        ];
        for root in roots {
            with_client(&client, || {
                let _adopted = caller.clone().adopt();
                pretend_pid(Some(child_pid));
                root();
                pretend_pid(None);
            });
        }
        // A future made in the parent takes the pending IDs with it; the child polls it.
        let mut future = with_client(&client, || {
            let _adopted = caller.clone().adopt();
            Box::pin(in_transaction("URL", "/callee-future", async {}))
        });
        pretend_pid(Some(child_pid));
        let polled = std::future::Future::poll(
            future.as_mut(),
            &mut std::task::Context::from_waker(std::task::Waker::noop()),
        );
        let child_flushed = client.flush(WAIT);
        pretend_pid(None);
        assert!(polled.is_ready() && child_flushed);

        let trees = sink.trees();
        assert_eq!(trees.len(), 4);
        for tree in &trees {
            let header = &tree.header;
            assert_ne!(
                header.message_id,
                caller.child_id,
                "the child sent {} under the ID its parent adopted",
                tree.root.name()
            );
            let id: MessageId = header.message_id.parse().unwrap();
            assert_eq!(id.pid, Some(child_pid), "{id}");
            assert_eq!(header.parent_message_id, caller.parent_id);
            assert_eq!(header.root_message_id, caller.root_id);
        }
    }

    /// A thread of the parent held the registry's lock and the aggregators' flush lock when
    /// the process forked: in the child nobody ever releases them, and nothing may wait for
    /// them.
    #[test]
    fn a_forked_child_never_waits_for_locks_the_parents_threads_held() {
        let marks = tempfile::tempdir().unwrap();
        let (client, sink) = forkable_client("forked-locks", marks.path());
        let parent = Arc::clone(client.here());
        let child_pid = another_pid(4);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let held_registry = crate::message_id_factory::tests::lock_registry();
        let held_flush = parent.aggregators_flush.lock().unwrap();
        let child = {
            let client = client.clone();
            std::thread::spawn(move || {
                pretend_pid(Some(child_pid));
                let ctx = with_client(&client, || {
                    let _t = transaction!("URL", "/child");
                    Context::for_remote_call("forked-locks-callee", "Callee.call")
                });
                with_client(&client, || metric_count!("child.metric"));
                let flushed = client.flush(WAIT);
                let _ = done_tx.send((ctx, flushed));
                client.shutdown(WAIT);
            })
        };
        let answered = done_rx.recv_timeout(WAIT);
        drop(held_flush);
        drop(held_registry);
        let _ = child.join();
        let (ctx, flushed) = answered.expect("the child waited for a lock of the parent's");
        assert!(ctx.is_some() && flushed);
        let trees = sink.trees();
        assert_eq!(trees.len(), 2, "the child's tree and its metric aggregate");
        assert!(client.flush(WAIT), "the parent's pipeline goes on");
    }
}
