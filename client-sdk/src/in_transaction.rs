//! [`in_transaction`]: a future that carries its own tree across polls and threads.
//!
//! A `TransactionGuard` lives on a thread-local stack, so it must not be held across
//! `.await`: the task may resume on another worker thread. Instead, the future owns its tree
//! and swaps it into the polling thread's state for the duration of each `poll` (in the style
//! of fastrace's `FutureExt::in_span`). Everything the inner future records while being polled
//! (guards that end before the next `.await`, events, metrics, nested `in_transaction`s)
//! lands in that tree.
//!
//! Polled inside another recorded transaction (for example an `in_transaction` awaited by an
//! outer one), it opens a nested transaction in the outer tree instead. Such nested futures
//! should be awaited one at a time: two of them polled concurrently in one tree (`join!`) end
//! together with whichever finishes first.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::client::Client;
use crate::tree_builder::{with_state, TreeBuilder};

/// Runs `future` inside a transaction `type_`/`name`; the transaction ends when the future
/// completes (status `Cancelled` if it is dropped first).
///
/// The client is the one of the thread that calls `in_transaction` (bound or global), so a
/// task spawned onto a runtime's worker threads still reports to it.
pub fn in_transaction<F: Future>(
    type_: impl Into<Cow<'static, str>>,
    name: impl Into<Cow<'static, str>>,
    future: F,
) -> InTransaction<F> {
    let client = with_state(|s| s.client().cloned()).flatten();
    InTransaction {
        future: Box::pin(future),
        state: State::NotStarted {
            type_: type_.into(),
            name: name.into(),
            client,
        },
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
    },
    /// The future owns a root tree, swapped in for each poll.
    Root(Box<TreeBuilder>),
    /// A transaction at `depth` in the tree of whoever polls us.
    Nested(usize),
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
                with_state(|s| s.swap_tree(tree));
                let poll = this.future.as_mut().poll(cx);
                if poll.is_ready() {
                    with_state(|s| s.end_transaction(0));
                }
                with_state(|s| s.swap_tree(tree));
                if poll.is_ready() {
                    this.state = State::Off;
                }
                poll
            }
            State::Nested(depth) => {
                let depth = *depth;
                let poll = this.future.as_mut().poll(cx);
                if poll.is_ready() {
                    with_state(|s| s.end_transaction(depth));
                    this.state = State::Off;
                }
                poll
            }
            State::NotStarted { .. } | State::Off => this.future.as_mut().poll(cx),
        }
    }
}

fn start(state: State) -> State {
    let State::NotStarted {
        type_,
        name,
        client,
    } = state
    else {
        return state;
    };
    with_state(|s| {
        if s.tree.depth() > 0 {
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
        let started = s.start_transaction(type_, name).is_some();
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
        if let State::Root(tree) = &mut self.state {
            with_state(|s| {
                s.swap_tree(tree);
                if let Some(record) = s.transaction_mut(0) {
                    record.status = Cow::Borrowed(CANCELLED);
                }
                s.end_transaction(0);
                s.swap_tree(tree);
            });
        }
    }
}
