//! Linking trees across processes (and threads), as CAT does it (reference 1.3).
//!
//! The caller makes the callee's message ID (callee's domain, caller's IP), logs a
//! `RemoteCall` event whose data is that ID, and passes root, parent and child IDs along (as
//! HTTP headers, RPC metadata, or a plain value to another thread). The callee adopts them:
//! its tree's message ID is the child ID, its parent the caller's tree, its root the first
//! tree of the chain.
//!
//! ```
//! # let (transport, sink) = ocelot_client::MemoryTransport::new();
//! # let order = ocelot_client::Client::builder().domain("order-service").heartbeat_interval(None).transport(transport).build();
//! # let (transport2, _) = ocelot_client::MemoryTransport::new();
//! # let payment = ocelot_client::Client::builder().domain("payment-service").heartbeat_interval(None).transport(transport2).build();
//! use ocelot_client::{transaction, Context};
//!
//! let ctx = ocelot_client::with_client(&order, || {
//!     let _t = transaction!("URL", "/api/order");
//!     Context::for_remote_call("payment-service", "PaymentService.pay").unwrap()
//! });
//! // ... on the payment service's thread (or process, through headers):
//! let headers = ctx.to_headers();
//! let received = Context::from_headers(|name| {
//!     headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
//! })
//! .unwrap();
//! ocelot_client::with_client(&payment, || {
//!     let _adopted = received.adopt();
//!     let _t = transaction!("Service", "PaymentService.pay");
//! });
//! ```
//!
//! Adopted IDs belong to one request. Adopted while a tree is open, they go to that tree at
//! once. Adopted before the request's root starts (as a server does on reading the headers),
//! they wait for the next root on this thread, but only while the [`AdoptionGuard`] that
//! `adopt` returns lives: on a pooled thread, a request that ends without starting a tree
//! (rejected early, say) must not hand its caller's IDs to the next, unrelated request.

use std::borrow::Cow;
use std::future::Future;

use crate::in_transaction::InTransaction;
use crate::record::Kind;
use crate::tree_builder::with_state;

/// HTTP header carrying the root message ID (CAT's HTTP filter names).
pub const HEADER_ROOT_ID: &str = "X-CAT-ROOT-ID";
/// HTTP header carrying the caller's (parent) message ID.
pub const HEADER_PARENT_ID: &str = "X-CAT-PARENT-ID";
/// HTTP header carrying the ID the callee's tree takes.
pub const HEADER_CHILD_ID: &str = "X-CAT-ID";

/// The three IDs that link a callee's tree to its caller's.
///
/// The callee may be a task of the same service: work spawned from a request
/// (`tokio::spawn`) is a tree of its own, unlinked unless the request passes it a context.
///
/// ```
/// # let (transport, sink) = ocelot_client::MemoryTransport::new();
/// # let client = ocelot_client::Client::builder().domain("order-service")
/// #     .heartbeat_interval(None).transport(transport).build();
/// # let _bound = client.bind_to_current_thread();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// use ocelot_client::{in_transaction, Context};
///
/// rt.block_on(in_transaction("URL", "/api/order", async {
///     // The task's tree takes a child ID of our own domain; its parent is this tree.
///     let ctx = Context::for_remote_call("order-service", "Task.sendMail").unwrap();
///     tokio::spawn(ctx.in_transaction("Task", "sendMail", async { /* .. */ }))
///         .await
///         .unwrap();
/// }));
/// # client.flush(std::time::Duration::from_secs(5));
/// # let trees = sink.trees();
/// # let task = trees.iter().find(|t| t.root.name() == "sendMail").unwrap();
/// # let request = trees.iter().find(|t| t.root.name() == "/api/order").unwrap();
/// # assert_eq!(task.header.parent_message_id, request.header.message_id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Context {
    /// The first tree of the whole call chain.
    pub root_id: String,
    /// The caller's tree.
    pub parent_id: String,
    /// The ID the callee's tree takes.
    pub child_id: String,
}

impl Context {
    /// Called by the caller, inside its transaction: makes the callee's ID for `callee_domain`,
    /// logs `RemoteCall/<name>` with that ID as data, and returns the context to pass on.
    /// `None` when this thread has no client (nothing is recorded then).
    pub fn for_remote_call(
        callee_domain: &str,
        name: impl Into<Cow<'static, str>>,
    ) -> Option<Context> {
        with_state(|s| {
            let client = s.client()?.clone();
            // With no tree open, the `RemoteCall` event is a tree of its own, which takes IDs
            // adopted from our caller: the context must name that tree, not a fresh ID.
            s.adopt_pending_for_leaf();
            let (own, root) = s.current_ids()?;
            let child = client.message_id_for(callee_domain).to_string();
            s.log(
                Kind::Event,
                Cow::Borrowed("RemoteCall"),
                name.into(),
                Cow::Borrowed(ocelot_protocol::SUCCESS),
                child.clone(),
            );
            Some(Context {
                root_id: root,
                parent_id: own,
                child_id: child,
            })
        })
        .flatten()
    }

    /// Called by the callee: the current tree takes these IDs, or, if none is open, the next
    /// root started on this thread (or by an [`crate::in_transaction`] future created on it)
    /// while the returned guard lives. Bind the guard for the request's duration:
    /// `let _adopted = ctx.adopt();`.
    ///
    /// In async code use [`Context::in_transaction`] instead. IDs adopted here wait on this
    /// thread, and while a task waits the runtime runs other tasks there, whose next root
    /// would take them (an unrelated request then gets the caller's IDs, and this one none):
    /// with `adopt`, the request's `in_transaction` must be made right after it, with no
    /// `.await` between.
    pub fn adopt(self) -> AdoptionGuard {
        let pending = with_state(|s| s.adopt(self)).flatten();
        AdoptionGuard { pending }
    }

    /// [`crate::in_transaction`] whose root takes these IDs: the way for async code to adopt
    /// a caller's IDs. The IDs go with the future, not through the thread, so `.await`s
    /// before it is made or polled (reading the body, an auth check) cannot hand them to
    /// another task's tree, and the thread's own adopted IDs stay for its next root.
    ///
    /// The future is always a tree of its own, even when awaited inside a tree of the same
    /// client: it continues the caller's request, whose `RemoteCall` names its ID.
    ///
    /// ```
    /// # let (transport, sink) = ocelot_client::MemoryTransport::new();
    /// # let client = ocelot_client::Client::builder().domain("payment-service")
    /// #     .heartbeat_interval(None).transport(transport).build();
    /// # let _bound = client.bind_to_current_thread();
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// use ocelot_client::Context;
    ///
    /// # let headers = [("X-CAT-ID", "payment-service-c0000201-490000-7"),
    /// #     ("X-CAT-PARENT-ID", "order-service-c0000201-490000-3"),
    /// #     ("X-CAT-ROOT-ID", "order-service-c0000201-490000-3")];
    /// # let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    /// // In a server's request handling (`header` reads the request's headers):
    /// let caller = Context::from_headers(header);
    /// rt.block_on(async {
    ///     tokio::task::yield_now().await; // an auth check, reading the body...
    ///     let handle = async { /* .. */ };
    ///     match caller {
    ///         Some(ctx) => ctx.in_transaction("URL", "/api/pay", handle).await,
    ///         None => ocelot_client::in_transaction("URL", "/api/pay", handle).await,
    ///     }
    /// });
    /// # client.flush(std::time::Duration::from_secs(5));
    /// # assert_eq!(sink.trees()[0].header.message_id, "payment-service-c0000201-490000-7");
    /// ```
    pub fn in_transaction<F: Future>(
        self,
        type_: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> InTransaction<F> {
        InTransaction::new(type_.into(), name.into(), future, Some(self))
    }

    /// The three `(header, value)` pairs to send.
    pub fn to_headers(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ROOT_ID, self.root_id.clone()),
            (HEADER_PARENT_ID, self.parent_id.clone()),
            (HEADER_CHILD_ID, self.child_id.clone()),
        ]
    }

    /// Calls `set(name, value)` for each header, e.g. `|k, v| request.header(k, v)`.
    pub fn inject(&self, mut set: impl FnMut(&'static str, &str)) {
        set(HEADER_ROOT_ID, &self.root_id);
        set(HEADER_PARENT_ID, &self.parent_id);
        set(HEADER_CHILD_ID, &self.child_id);
    }

    /// Reads the three headers through `get` (which should match names case-insensitively, as
    /// HTTP does). `None` unless the child ID is present; a missing root or parent defaults to
    /// the other one, as a tree with a parent but no root is its own chain's root.
    pub fn from_headers<'a>(
        mut get: impl FnMut(&'static str) -> Option<&'a str>,
    ) -> Option<Context> {
        let child = get(HEADER_CHILD_ID)?.trim();
        if child.is_empty() {
            return None;
        }
        let parent = get(HEADER_PARENT_ID)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let root = get(HEADER_ROOT_ID).map(str::trim).filter(|s| !s.is_empty());
        let (parent, root) = match (parent, root) {
            (Some(p), Some(r)) => (p, r),
            (Some(p), None) => (p, p),
            (None, Some(r)) => (r, r),
            (None, None) => return None,
        };
        Some(Context {
            root_id: root.to_owned(),
            parent_id: parent.to_owned(),
            child_id: child.to_owned(),
        })
    }
}

/// The message ID of the tree this thread is building (CAT's `Cat.getCurrentMessageId()`),
/// given to it now if it has none yet: put it in the application's own log lines, and the
/// tree opens in LogView at `/m/{id}`. `None` outside a transaction or without a client.
pub fn current_message_id() -> Option<String> {
    with_state(|s| s.open_tree_id()).flatten()
}

/// Returned by [`Context::adopt`]: while it lives, the next root started on this thread takes
/// the adopted IDs; dropping it first withdraws them. It does nothing once a root has taken
/// them, or if they went to an already open tree. It may be held across `.await` and dropped
/// on another thread (it then withdraws nothing), but the IDs are safe only until the first
/// `.await`: see [`Context::adopt`], and [`Context::in_transaction`] for async code.
#[must_use = "dropping the guard withdraws the adopted IDs before any tree takes them; bind it: `let _adopted = ctx.adopt();`"]
#[derive(Debug)]
pub struct AdoptionGuard {
    /// Identifies this adoption among the thread's pending IDs; `None` if they were used at once.
    pending: Option<u64>,
}

impl Drop for AdoptionGuard {
    fn drop(&mut self) {
        if let Some(serial) = self.pending {
            with_state(|s| s.withdraw_pending(serial));
        }
    }
}
