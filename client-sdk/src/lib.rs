//! Ocelot's client SDK (`ocelot-client`): applications record CAT transactions, events,
//! metrics and heartbeats; each thread builds its message tree in thread-local state, and one
//! background thread ships finished trees to a collector in CAT's NT1 format.
//!
//! ```text
//! transaction!/event!/metric_*! ──> thread-local tree ──(root ends: ID, try_send)──>
//!     bounded queue (trees + bytes) ──> sender thread: NT1 into a reused buffer ──> Transport
//! metric_count!/metric_sum! outside any transaction ──> metric aggregator (sharded tallies)
//!     ──(sender thread, about once a second: one System/MetricAggregator tree)──> same queue
//! root ends, sampled out (sample < 1) ──> tree aggregator (sharded tallies)
//!     ──(same drain: System/TransactionAggregator + System/EventAggregator trees)──> same queue
//! ```
//!
//! * [`Client`] (built with [`Client::builder`]) holds the configuration, the queue and the
//!   sender thread. [`ClientBuilder::build`] never fails (it works around a bad setting and
//!   says so); [`ClientBuilder::try_build`] returns it as a [`BuildError`]. [`init`] makes
//!   one the process default; [`Client::bind_to_current_thread`] and [`with_client`] let
//!   one process act as several services. Without any client every macro is a no-op.
//! * [`transaction!`], [`event!`], [`error!`], [`metric_count!`], [`metric_duration!`],
//!   [`metric_sum!`] record; [`TransactionGuard`] ends a transaction when dropped.
//! * [`in_transaction`] and [`attr::transaction`] (`#[ocelot_client::attr::transaction]`)
//!   cover async code; [`current_transaction`] sets the status and data of a transaction
//!   the code did not open (an `in_transaction`'s own, after its handler); [`Context`]
//!   links trees across processes ([`Context::in_transaction`] in async code).
//! * [`Transport`]: [`TcpTransport`] in production, [`MemoryTransport`] in tests.
//!
//! The host is never blocked and never panics because of the SDK: a full queue or an absent
//! collector drops trees and counts them by [`DropReason`] (see [`Client::stats`]). Call
//! [`Client::shutdown`] before the process exits to send what is still queued.
//!
//! Metrics are pre-aggregated as CAT's clients do: a count or sum logged outside any transaction
//! is added to the client's aggregator, and about once a second all of them go out as one
//! `System/MetricAggregator` tree (status `C` or `S,C` per name and minute), which the
//! collector counts exactly as the single calls. Inside a transaction a metric stays an `M`
//! message in that tree. Durations (`metric_duration!`) are not aggregated: no aggregated form
//! reads back as a `T` metric, so outside a transaction each is still a tree of its own.
//! [`Client::flush`], [`Client::shutdown`] and dropping the last handle send what the aggregator
//! holds; a name past the aggregator's bound (1000 names in each of its 16 shards, a few
//! minutes per name between flushes) is dropped and counted ([`DropReason::MetricNamesFull`]).
//!
//! Sampling and `block` follow CAT's clients too (reference 1.5): the router's `sample` (or
//! [`ClientBuilder::sample_ratio`] without a router) below 1 sends every `1/sample`-th
//! discardable tree as it is; a tree with a failure, heartbeat, metric, dependency event or
//! long transaction is always sent; the others are added up per type, name and minute and sent about once a second
//! as `System/TransactionAggregator` and `System/EventAggregator` trees, which the collector's
//! Transaction and Event reports count as the trees themselves (durations within CAT's bucket
//! accuracy), counted in [`Stats::aggregated`]. The router's `block=true` drops every tree
//! ([`DropReason::Blocked`]).
//!
//! A process forked after the client was built (a prefork server's worker) gets its own
//! queue, sender thread, aggregators and message IDs (with its pid) on first use there, and
//! never waits for a lock a thread of its parent held (see [`Transport::for_forked_process`]).
//! A tree belongs to the client whose root started it: [`with_client`] for another client
//! inside it records into trees of that client's own.
//!
//! With heartbeats on (the default), the heartbeat thread logs `Reboot/<ip>` when it starts,
//! as CAT's Java client does.
//!
//! Not done (yet): CAT's Java "atomic" tree batching
//! (`startTransactionTypes`/`matchTransactionTypes`).
//!
//! ```
//! use ocelot_client::{event, transaction, Client, MemoryTransport};
//!
//! let (transport, sink) = MemoryTransport::new();
//! let client = Client::builder()
//!     .domain("order-service")
//!     .heartbeat_interval(None)
//!     .transport(transport)
//!     .build();
//! ocelot_client::with_client(&client, || {
//!     let t = transaction!("URL", "/api/order");
//!     event!("Order", "created");
//!     t.add_data("id", 42);
//! });
//! client.flush(std::time::Duration::from_secs(5));
//! let trees = sink.trees();
//! assert_eq!(trees[0].root.name(), "/api/order");
//! assert_eq!(trees[0].root.children()[0].name(), "created");
//! ```

mod build_error;
mod client;
mod clock;
mod context;
mod heartbeat;
mod in_transaction;
mod macros;
mod message_id_factory;
mod metric_aggregator;
mod open_transaction;
mod process;
mod rate_limited_log;
mod record;
mod router;
mod sampling;
mod sender;
mod stats;
mod sync;
#[cfg(feature = "tracing")]
mod tracing_layer;
mod transaction_guard;
mod transport;
mod tree_aggregator;
mod tree_builder;

pub use build_error::BuildError;
pub use client::{
    global, init, record_nothing_on_this_thread, with_client, Client, ClientBuilder,
    ShutdownOnDrop, DEFAULT_COLLECTOR_PORT, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_TREES, DEFAULT_ROUTER_REFRESH, MAX_QUEUE_TREES,
};
pub use context::{
    current_message_id, AdoptionGuard, Context, HEADER_CHILD_ID, HEADER_PARENT_ID, HEADER_ROOT_ID,
};
pub use heartbeat::send_heartbeat;
pub use in_transaction::{in_transaction, InTransaction};
pub use open_transaction::{current_transaction, OpenTransaction};
pub use stats::{DropReason, Stats};
#[cfg(feature = "tracing")]
pub use tracing_layer::OcelotLayer;
pub use transaction_guard::TransactionGuard;
pub use transport::{MemorySink, MemoryTransport, TcpTransport, Transport};

/// The `#[transaction]` attribute, for sync and async functions:
/// `#[ocelot_client::attr::transaction]` or `#[ocelot_client::attr::transaction(type = "SQL",
/// name = "OrderDao.insert")]`. (It lives in a module because `transaction!` already takes the
/// name at the crate root.)
pub mod attr {
    pub use ocelot_client_macros::transaction;
}

/// What the macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::macros::{
        fail_innermost, log_error, log_event, log_metric, log_metric_sum_count, DebugResultStatus,
        ErrorArg, LogError, LogErrorBehind, NoStatus, ResultStatus, StatusOf,
    };
}
