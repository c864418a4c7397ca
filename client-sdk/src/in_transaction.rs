//! [`in_transaction`]: a future that carries its own tree across polls and threads.
//!
//! A `TransactionGuard` lives on a thread-local stack, so it must not be held across
//! `.await`: the task may resume on another worker thread. Instead, the future owns its tree
//! and swaps it into the polling thread's state for the duration of each `poll` (in the style
//! of fastrace's `FutureExt::in_span`). Everything the inner future records while being polled
//! (guards that end before the next `.await`, events, metrics, nested `in_transaction`s)
//! lands in that tree.
//!
//! Polled inside another recorded transaction of the same client (for example an
//! `in_transaction` awaited by an outer one), it opens a nested transaction in the outer tree
//! instead; one made for another client (under `with_client`), or carrying a caller's IDs
//! (adopted before it was made, or given with [`crate::Context::in_transaction`]), keeps a
//! tree of its own. Such
//! nested futures should be awaited one at a time: the tree has one stack of open transactions, so of two
//! polled concurrently in one tree (`join!`, `select!`), the second shows inside the first
//! while that one waits, what either records lands in the innermost open one, and the inner
//! one ends with the outer if that finishes first. Spawn concurrent parts as tasks of their
//! own to see them apart (see [`crate::Context`] for linking their trees to the request's).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::client::Client;
use crate::tree_builder::{with_state, AdoptedIds, OpenRef, TreeBuilder, PANIC_STATUS};

/// Runs `future` inside a transaction `type_`/`name`; the transaction ends when the future
/// completes, with status `Cancelled` if the future is dropped first (for example by
/// `tokio::time::timeout`) and `panic` if a panic unwinds out of its `poll`. A cancelled or
/// panicked nested transaction ends at that moment, and whatever the enclosing future records
/// afterwards goes next to it, not inside it.
///
/// The client is the one of the thread that calls `in_transaction` (bound or global), so a
/// task spawned onto a runtime's worker threads still reports to it. Awaited inside a tree of
/// that client, the future is a nested transaction there; inside a tree of another client, a
/// tree of its own, as for [`crate::with_client`].
///
/// Made while no tree is open on this thread, the future takes the IDs adopted there for the
/// next root ([`crate::Context::adopt`]), and is then always a tree of its own under those
/// IDs, wherever it is awaited: it continues the caller's request, whose `RemoteCall` names
/// that ID. In async code prefer [`crate::Context::in_transaction`], which hands the IDs to
/// the future without going through the thread.
pub fn in_transaction<F: Future>(
    type_: impl Into<Cow<'static, str>>,
    name: impl Into<Cow<'static, str>>,
    future: F,
) -> InTransaction<F> {
    InTransaction::new(type_.into(), name.into(), future, None)
}

impl<F: Future> InTransaction<F> {
    /// [`in_transaction`], with the caller's IDs `ctx` for its root if given (see
    /// [`crate::Context::in_transaction`]).
    pub(crate) fn new(
        type_: Cow<'static, str>,
        name: Cow<'static, str>,
        future: F,
        ctx: Option<crate::Context>,
    ) -> Self {
        let (client, adopted) = with_state(|s| {
            let adopted = match ctx {
                Some(ctx) => Some(s.adopted_ids(ctx)),
                // IDs adopted for this thread's next root go with the future, which may start
                // its root on another thread (`tokio::spawn`).
                None if s.tree.depth() == 0 => s.take_pending(),
                None => None,
            };
            (s.client().cloned(), adopted)
        })
        .unwrap_or_default();
        InTransaction {
            future: Box::pin(future),
            state: State::NotStarted {
                type_,
                name,
                client,
                adopted,
            },
        }
    }
}

/// The future returned by [`in_transaction`].
#[must_use = "futures do nothing unless polled"]
pub struct InTransaction<F> {
    future: Pin<Box<F>>,
    state: State,
}

impl<F> std::fmt::Debug for InTransaction<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InTransaction").finish_non_exhaustive()
    }
}

enum State {
    NotStarted {
        type_: Cow<'static, str>,
        name: Cow<'static, str>,
        client: Option<Client>,
        /// IDs from [`crate::Context::adopt`] for our root.
        adopted: Option<AdoptedIds>,
    },
    /// The future owns a root tree, swapped in for each poll.
    Root(Box<TreeBuilder>),
    /// A transaction in the tree of whoever polls us. The handle (not just a depth) makes
    /// ending it a no-op if it has already ended, or if we are dropped while another tree is
    /// on the thread.
    Nested(OpenRef),
    /// Nothing to record (no client), or finished.
    Off,
}

/// Status of a transaction whose future was dropped before completing.
const CANCELLED: &str = "Cancelled";

impl<F: Future> Future for InTransaction<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if let State::NotStarted { .. } = this.state {
            this.state = start(std::mem::replace(&mut this.state, State::Off));
        }
        match &mut this.state {
            State::Root(tree) => {
                let Some(swapped) = SwappedIn::new(tree) else {
                    return this.future.as_mut().poll(cx);
                };
                let poll = this.future.as_mut().poll(cx);
                if poll.is_ready() {
                    swapped.complete();
                    this.state = State::Off;
                }
                poll
            }
            State::Nested(open) => {
                let open = *open;
                let _on_unwind = EndOnUnwind::new(open);
                let poll = this.future.as_mut().poll(cx);
                if poll.is_ready() {
                    with_state(|s| s.end_transaction(open));
                    this.state = State::Off;
                }
                poll
            }
            State::NotStarted { .. } | State::Off => this.future.as_mut().poll(cx),
        }
    }
}

/// Our root tree, swapped into the polling thread's state for one `poll`. Swapping back
/// happens in `Drop`, so it also happens when the inner future panics: without that, a
/// runtime that catches the panic (tokio does, per task) would leave the dead tree on its
/// worker thread, and every later transaction there would nest inside it and never be sent.
struct SwappedIn<'a> {
    tree: &'a mut Box<TreeBuilder>,
    /// Whether the thread was already unwinding before this poll (a future driven to
    /// completion inside a `Drop` during a panic): only a panic from the poll itself counts.
    was_panicking: bool,
}

impl<'a> SwappedIn<'a> {
    /// `None` if the thread's state is unavailable (thread teardown): nothing is recorded.
    fn new(tree: &'a mut Box<TreeBuilder>) -> Option<Self> {
        with_state(|s| s.swap_tree(tree))?;
        Some(SwappedIn {
            tree,
            was_panicking: std::thread::panicking(),
        })
    }

    /// Ends the root (the tree goes to the client) and swaps the thread's own tree back.
    fn complete(self) {
        with_state(|s| s.end_root());
    }
}

impl Drop for SwappedIn<'_> {
    fn drop(&mut self) {
        with_state(|s| {
            if std::thread::panicking() && !self.was_panicking {
                // The future will never be polled again: send what it recorded, marked failed.
                s.fail_root_and_end(Cow::Borrowed(PANIC_STATUS));
            }
            s.swap_tree(self.tree);
        });
    }
}

/// Ends a nested transaction as failed if a panic unwinds out of the inner `poll`.
struct EndOnUnwind {
    open: OpenRef,
    was_panicking: bool,
}

impl EndOnUnwind {
    fn new(open: OpenRef) -> Self {
        EndOnUnwind {
            open,
            was_panicking: std::thread::panicking(),
        }
    }
}

impl Drop for EndOnUnwind {
    fn drop(&mut self) {
        if !std::thread::panicking() || self.was_panicking {
            return;
        }
        with_state(|s| {
            s.fail_transaction(self.open, Cow::Borrowed(PANIC_STATUS));
            s.end_transaction(self.open);
        });
    }
}

fn start(state: State) -> State {
    let State::NotStarted {
        type_,
        name,
        client,
        adopted,
    } = state
    else {
        return state;
    };
    with_state(|s| {
        // A future made for another client (under `with_client`) records into a tree of its
        // own, as `with_client` does in sync code, even when awaited inside this tree.
        let other_client = match (&client, s.client()) {
            (Some(ours), Some(polling)) => !ours.is(polling),
            _ => false,
        };
        // So does one with a caller's IDs: it continues another request, whose caller logged
        // a `RemoteCall` naming its ID. Nested here, the IDs would be lost and that link would
        // name no tree.
        if s.tree.depth() > 0 && !other_client && adopted.is_none() {
            return s
                .start_transaction(type_, name)
                .map_or(State::Off, State::Nested);
        }
        let Some(client) = client else {
            return State::Off;
        };
        let mut tree = Box::new(TreeBuilder::new());
        tree.pinned = Some(client);
        s.swap_tree(&mut tree);
        let started = s.start_root_adopting(type_, name, adopted).is_some();
        s.swap_tree(&mut tree);
        if started {
            State::Root(tree)
        } else {
            State::Off
        }
    })
    .unwrap_or(State::Off)
}

impl<F> Drop for InTransaction<F> {
    fn drop(&mut self) {
        match &mut self.state {
            State::Root(tree) => {
                with_state(|s| {
                    s.swap_tree(tree);
                    s.fail_root_and_end(Cow::Borrowed(CANCELLED));
                    s.swap_tree(tree);
                });
            }
            State::Nested(open) => {
                // Reachable only while the tree we are nested in is on this thread, which is
                // the usual case: the enclosing future drops us inside its own `poll`
                // (`timeout`, `select!`). Otherwise the transaction ends with its parent.
                let open = *open;
                with_state(|s| {
                    s.fail_transaction(open, Cow::Borrowed(CANCELLED));
                    s.end_transaction(open);
                });
            }
            State::NotStarted { .. } | State::Off => {}
        }
    }
}
