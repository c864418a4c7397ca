//! [`OpenTransaction`]: the transaction open now, to set its status and data from code that
//! did not open it (an `in_transaction` middleware after its handler, a helper deep inside a
//! request), as CAT's Java `Cat.getManager().getPeekTransaction()` and OpenTelemetry's
//! `Span::current()` do.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Display;
use std::ops::Deref;

use crate::tree_builder::{with_state, OpenRef, ThreadState};

/// The innermost transaction open in the tree this thread is recording now (the one the
/// [`crate::in_transaction`] future being polled, or a `tracing` span entered, swapped in),
/// or `None` outside any transaction or without a client.
///
/// ```
/// # let (transport, sink) = ocelot_client::MemoryTransport::new();
/// # let client = ocelot_client::Client::builder().domain("order-service")
/// #     .heartbeat_interval(None).transport(transport).build();
/// # let _bound = client.bind_to_current_thread();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # async fn handle() -> u16 { tokio::task::yield_now().await; 503 }
/// use ocelot_client::{current_transaction, in_transaction};
///
/// // A middleware: the URL transaction fails when the handler answers with a 5xx.
/// let code = rt.block_on(in_transaction("URL", "/api/order", async {
///     let code = handle().await;
///     if let Some(t) = current_transaction() {
///         t.add_data("status", code);
///         if code >= 500 {
///             t.set_status(code.to_string());
///         }
///     }
///     code
/// }));
/// # client.flush(std::time::Duration::from_secs(5));
/// # assert_eq!(sink.trees()[0].root.status(), "503");
/// ```
pub fn current_transaction() -> Option<OpenTransaction> {
    with_state(|s| s.innermost())
        .flatten()
        .map(|open| OpenTransaction { open })
}

/// A handle to an open transaction, from [`current_transaction`]. Unlike a
/// [`crate::TransactionGuard`] it ends nothing and may be kept across `.await` and sent to
/// other threads: it acts on its transaction whenever the thread using it is recording that
/// transaction's tree (inside a poll of the `in_transaction` that owns the tree, say), and
/// changes nothing elsewhere or once the transaction has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTransaction {
    open: OpenRef,
}

impl OpenTransaction {
    pub(crate) fn new(open: OpenRef) -> Self {
        OpenTransaction { open }
    }

    /// Whether this transaction is still open in a tree this thread is recording: once it
    /// says `false`, `set_status`, `add_data` and `fail` change nothing.
    pub fn is_recording(&self) -> bool {
        with_state(|s| s.is_recording(self.open)).unwrap_or(false)
    }

    /// Sets the status: `"0"` is success, anything else a failure.
    pub fn set_status(&self, status: impl Into<Cow<'static, str>>) {
        with_state(|s| s.set_status(self.open, status.into()));
    }

    /// Appends `key=value` to the data (pairs joined with `&`, as CAT clients do).
    pub fn add_data(&self, key: impl Display, value: impl Display) {
        with_state(|s| s.add_data(self.open, &key, &value));
    }

    /// Marks the transaction failed with the error's type name as status and logs an `Error`
    /// event, as [`crate::TransactionGuard::fail`] does (see there for what `err` may be).
    pub fn fail<P>(&self, err: P)
    where
        P: Deref,
        P::Target: Error,
    {
        let open = self.open;
        let err = &*err;
        let fail = |s: &mut ThreadState| {
            let name = crate::macros::error_name_behind::<P>(err);
            crate::macros::log_error_named(s, err, name.clone());
            s.set_status(open, name);
        };
        with_state(|s| {
            // The event goes to the tree that holds this transaction, which `with_client`
            // may have set aside while the handle is used inside it. A transaction that has
            // ended still logs its error where the thread records now.
            if s.in_tree_of(open, fail).is_none() {
                fail(s);
            }
        });
    }
}
