//! Each thread's tree under construction, in thread-local state.
//!
//! Design constraints: between the start and end of a nested transaction only this
//! thread-local is touched (a `RefCell` borrow flag, a `Vec` push, one monotonic clock read):
//! no lock, no atomic, no syscall. Only when the root ends does the tree get its message ID
//! (one atomic CAS) and go to the client's queue.
//!
//! Long trees are cut as CAT clients cut them (reference 1.4): before a message is added to a
//! part that already holds [`MAX_MESSAGES_PER_PART`] messages below its root, or whose time
//! (minus [`HOUR_SPLIT_SLACK_MS`]) falls in a later hour than the part's root, the part is sent
//! with a trailing `RemoteCall/Next` event naming the continuation, and the still-open
//! transactions continue in a fresh tree whose parent is the part just sent. In the part sent,
//! the copies of the open transactions have status `"0"`; the continuing ones keep the
//! application's status and data, so the last part (the only one CAT's server counts) says
//! whether the transaction failed. The last part ends with `TruncatedTransaction/TotalDuration`
//! (all parts' root durations, in µs).

use std::cell::RefCell;
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ocelot_protocol::{hour_of, SUCCESS};

use crate::client::{global, Client};
use crate::clock::Clock;
use crate::context::Context;
use crate::metric_aggregator::Amount;
use crate::process::{current_pid, PidCache};
use crate::record::{FinishedTree, Kind, Record, Text, TreeIds};
use crate::sampling::Decision;

/// CAT cuts a tree once it holds this many messages (Java `SIZE`, C `maxContextElementSize`).
pub(crate) const MAX_MESSAGES_PER_PART: usize = 2000;
/// CAT compares `(timestamp - 10 s)` with the root's hour, so a message logged just after the
/// hour turns does not split a tree that started a moment before.
pub(crate) const HOUR_SPLIT_SLACK_MS: u64 = 10_000;
/// Deeper transactions are not recorded: decoders (ours: `MAX_DEPTH` 512) reject deeper trees,
/// and recursion when converting stays shallow.
pub(crate) const MAX_NESTING: usize = 256;
/// Status a failed `error!` gives its enclosing transaction (the C API's `CAT_ERROR`).
pub(crate) const ERROR_STATUS: &str = "ERROR";
/// Status of a transaction ended by a panic unwinding through it. Java's CAT client stores the
/// exception's class name; a Rust panic has no type to name, so one fixed failure status.
pub(crate) const PANIC_STATUS: &str = "panic";
/// Bits of a transaction serial taken by the per-thread counter; the thread's number fills the
/// rest, so serials drawn on different threads never collide.
const SERIAL_COUNTER_BITS: u32 = 40;

/// Names one open transaction: its depth, plus a serial that tells it apart from any other
/// transaction that opens later at the same depth, in this tree or in another one that a
/// future swaps onto the thread. Everything that ends or edits a transaction later (guards,
/// futures, the tracing layer) goes through this, so a stale handle changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenRef {
    depth: usize,
    serial: u64,
}

/// An entry of a tree's stack of open transactions.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Index of the transaction's record.
    index: usize,
    serial: u64,
    /// Set while the transaction is suspended: left open by the `tracing` layer for its
    /// span's next entry (see [`ThreadState::suspend`]), as of this time.
    suspended_at_us: Option<u64>,
}

/// One tree (or the current part of a cut tree).
#[derive(Debug, Default)]
pub(crate) struct TreeBuilder {
    records: Vec<Record>,
    /// The open transactions, root first.
    open: Vec<Open>,
    message_id: Option<String>,
    /// The process `message_id` was drawn or adopted in: a copy of the tree in a process
    /// forked since (the tree was open on the forking thread) is sent under an ID of its own,
    /// as the parent's copy is sent under this one.
    id_pid: u32,
    parent_id: Option<String>,
    root_id: Option<String>,
    /// Messages below the root in this part.
    children_in_part: usize,
    estimated_bytes: usize,
    /// Sum of root durations of the parts already sent.
    truncated_total_us: u64,
    /// The client this tree goes to, fixed when a future carries the tree (`None`: the
    /// thread's bound client or the global one).
    pub(crate) pinned: Option<Client>,
}

impl TreeBuilder {
    pub(crate) const fn new() -> Self {
        TreeBuilder {
            records: Vec::new(),
            open: Vec::new(),
            message_id: None,
            id_pid: 0,
            parent_id: None,
            root_id: None,
            children_in_part: 0,
            estimated_bytes: 0,
            truncated_total_us: 0,
            pinned: None,
        }
    }

    /// How many transactions are open.
    pub(crate) fn depth(&self) -> usize {
        self.open.len()
    }

    /// Whether `open` is still open in this tree.
    fn holds(&self, open: OpenRef) -> bool {
        self.open
            .get(open.depth)
            .is_some_and(|o| o.serial == open.serial)
    }

    /// Fresh copies of the open transactions, starting at `now_us`, with the status and data
    /// the application gave them: how they go on in the next part of a cut tree.
    fn continuation(&self, now_us: u64) -> Vec<Record> {
        self.open
            .iter()
            .map(|o| {
                let r = &self.records[o.index];
                let mut next = Record::new(
                    Kind::Transaction,
                    r.type_.clone(),
                    r.name.clone(),
                    r.status.clone(),
                    now_us,
                );
                next.data.clone_from(&r.data);
                next
            })
            .collect()
    }

    /// Starts the next part with `continuation` (the records are empty, the part before
    /// taken away).
    fn continue_with(&mut self, continuation: Vec<Record>) {
        self.children_in_part = continuation.len().saturating_sub(1);
        self.estimated_bytes = continuation.iter().map(Record::estimated_bytes).sum();
        // Same serials: handles to the open transactions keep working in the new part.
        for (index, o) in self.open.iter_mut().enumerate() {
            o.index = index;
        }
        self.records.extend(continuation);
    }
}

/// IDs adopted from a caller for a root not started yet, and the process that adopted them.
/// A process forked before the root starts holds a copy: the parent's root is sent under
/// the adopted ID, and the child's copy takes an ID of its own (see `TreeBuilder::id_pid`).
#[derive(Debug)]
pub(crate) struct AdoptedIds {
    ctx: Context,
    pid: u32,
}

pub(crate) struct ThreadState {
    bound: Option<Client>,
    pub(crate) tree: TreeBuilder,
    /// IDs adopted from a caller for the next root, tagged with the serial the
    /// [`crate::AdoptionGuard`] that withdraws them holds.
    pending: Option<(u64, AdoptedIds)>,
    pub(crate) clock: Clock,
    thread: Option<(u64, Arc<str>)>,
    /// Transactions started on this thread (the low bits of their serials).
    started: u64,
    /// The pid this thread read last (which process's pipeline its trees go to).
    pid: PidCache,
    /// One of the SDK's own sending threads: nothing is recorded on it (see
    /// [`mark_sdk_thread`]).
    sdk_thread: bool,
    /// Trees of other clients that [`with_bound`] set aside while its closure runs, innermost
    /// last, each with the binding its client was resolved through.
    set_aside: Vec<(TreeBuilder, Option<Client>)>,
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            bound: None,
            tree: TreeBuilder::new(),
            pending: None,
            clock: Clock::new(),
            thread: None,
            started: 0,
            pid: PidCache::new(),
            sdk_thread: false,
            set_aside: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's state. Returns `None` when the state is unavailable (during
/// thread teardown, or re-entered from inside `f`): the SDK then records nothing rather than
/// panic in the host.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

/// Binds `client` to this thread; returns the previous binding.
pub(crate) fn bind(client: Option<Client>) -> Option<Client> {
    with_state(|s| std::mem::replace(&mut s.bound, client)).flatten()
}

/// Makes this thread one of the SDK's own (the sender thread): nothing it records, through
/// the macros or the `tracing` layer, becomes a tree. A transport that logs would otherwise
/// feed itself: its log line a tree, sent through it, which logs again.
pub(crate) fn mark_sdk_thread() {
    with_state(|s| s.sdk_thread = true);
}

/// Whether this thread is one of the SDK's own (see [`mark_sdk_thread`]).
#[cfg_attr(not(feature = "tracing"), allow(dead_code))] // Only the tracing layer asks.
pub(crate) fn on_sdk_thread() -> bool {
    // Busy state: re-entered from inside the SDK, which records nothing then either.
    with_state(|s| s.sdk_thread).unwrap_or(true)
}

/// Runs `f` with `client` bound to this thread (see [`crate::with_client`]). A tree open on
/// this thread that goes to another client is set aside while `f` runs: `f` records into
/// trees of `client`'s own, and the tree goes on, whole, after it. A tree `f` leaves open
/// (a guard that outlived it) is ended when it returns, under `client`.
pub(crate) fn with_bound<R>(client: &Client, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<(Option<Client>, bool)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let Some((previous, set_aside)) = self.0.take() else {
                return;
            };
            with_state(|s| {
                if set_aside {
                    s.end_root();
                    if let Some((mut outer, _)) = s.set_aside.pop() {
                        s.swap_tree(&mut outer);
                    }
                }
                s.bound = previous;
            });
        }
    }
    let saved = with_state(|s| {
        let set_aside = s.tree.depth() > 0 && !s.client().is_some_and(|c| c.is(client));
        let previous = s.bound.replace(client.clone());
        if set_aside {
            let outer = std::mem::replace(&mut s.tree, TreeBuilder::new());
            s.set_aside.push((outer, previous.clone()));
        }
        (previous, set_aside)
    });
    let _restore = Restore(saved);
    f()
}

fn resolve<'a>(
    sdk_thread: bool,
    pinned: &'a Option<Client>,
    bound: &'a Option<Client>,
) -> Option<&'a Client> {
    if sdk_thread {
        return None;
    }
    pinned.as_ref().or(bound.as_ref()).or_else(|| global())
}

static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

impl ThreadState {
    /// The client this thread's current or next tree goes to.
    pub(crate) fn client(&self) -> Option<&Client> {
        resolve(self.sdk_thread, &self.tree.pinned, &self.bound)
    }

    /// Opens a transaction; returns its handle, or `None` when nothing is recorded (no client,
    /// or nested too deep).
    pub(crate) fn start_transaction(&mut self, type_: Text, name: Text) -> Option<OpenRef> {
        self.end_suspended();
        let depth = self.tree.open.len();
        if depth == 0 {
            self.client()?;
            self.clock.refresh();
            if let Some((_, adopted)) = self.pending.take() {
                self.adopt_now(adopted);
            }
        } else if depth >= MAX_NESTING {
            return None;
        }
        let now = self.clock.now_us();
        let record = Record::new(Kind::Transaction, type_, name, Text::Borrowed(SUCCESS), now);
        self.push(record, now);
        let index = self.tree.records.len() - 1;
        let serial = self.next_serial();
        self.tree.open.push(Open {
            index,
            serial,
            suspended_at_us: None,
        });
        Some(OpenRef { depth, serial })
    }

    /// Opens the root of the (empty) current tree with the IDs `adopted`, if given, and else
    /// with the thread's pending ones, as [`ThreadState::start_transaction`] does.
    pub(crate) fn start_root_adopting(
        &mut self,
        type_: Text,
        name: Text,
        adopted: Option<AdoptedIds>,
    ) -> Option<OpenRef> {
        let Some(adopted) = adopted else {
            return self.start_transaction(type_, name);
        };
        // The thread's own pending IDs stay for the thread's own next root.
        let thread_pending = self.pending.take();
        let open = self.start_transaction(type_, name);
        if open.is_some() {
            self.adopt_now(adopted);
        }
        self.pending = thread_pending;
        open
    }

    /// A serial no other transaction in this process gets (until a thread starts 2^40).
    fn next_serial(&mut self) -> u64 {
        self.started = self.started.wrapping_add(1);
        let thread = thread_number(&mut self.thread);
        (thread << SERIAL_COUNTER_BITS) | (self.started & ((1 << SERIAL_COUNTER_BITS) - 1))
    }

    /// Whether `open` is still open in the tree this thread holds now.
    pub(crate) fn is_open(&self, open: OpenRef) -> bool {
        self.tree.holds(open)
    }

    /// Whether `open` is still open in this thread's current tree or in one that
    /// [`with_bound`] set aside: whether edits through it still land anywhere.
    pub(crate) fn is_recording(&self, open: OpenRef) -> bool {
        self.is_open(open) || self.set_aside.iter().any(|(tree, _)| tree.holds(open))
    }

    /// Ends the transaction `open` and every one opened inside it and still open; nothing if
    /// it has already ended or is in neither this thread's current tree nor one that
    /// [`with_bound`] set aside.
    pub(crate) fn end_transaction(&mut self, open: OpenRef) {
        if !self.is_open(open) {
            // Its guard was moved into a `with_bound` closure and dropped there: ended under
            // its own client, or its tree would stay open on this thread after the closure,
            // and every later tree nest in it.
            self.in_set_aside(open, |s| s.end_transaction(open));
            return;
        }
        let depth = open.depth;
        let now = self.clock.now_us();
        let len = self.tree.records.len();
        // When the transaction popped before (the one inside this one) ended.
        let mut inner_end_us = 0;
        while self.tree.open.len() > depth {
            let Open {
                index,
                suspended_at_us,
                ..
            } = self.tree.open.pop().expect("len > depth");
            // A suspended transaction ended when its span was last left, not now: the time
            // since went to whatever the thread did outside it.
            let end_us = suspended_at_us.map_or(now, |at| at.max(inner_end_us));
            inner_end_us = end_us;
            let record = &mut self.tree.records[index];
            record.duration_us = end_us.saturating_sub(record.timestamp_us);
            record.end = len;
        }
        if depth == 0 {
            self.finish_tree(now);
        }
    }

    /// Leaves the nested transaction `open` open for its `tracing` span's next entry to
    /// [`ThreadState::resume`] (the span was left but has not closed: an instrumented future
    /// returned `Pending`). Until then, it ends, as of this suspension, as soon as anything else
    /// is recorded at its place in the tree: once the thread records outside the span, the
    /// span's work has stopped, and nothing else must land inside it. A root is never suspended (its
    /// tree would never be sent); nothing happens if `open` has ended.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // Only the tracing layer suspends.
    pub(crate) fn suspend(&mut self, open: OpenRef) {
        if open.depth == 0 {
            return;
        }
        let now = self.clock.now_us();
        let tree = if self.tree.holds(open) {
            &mut self.tree
        } else {
            match self.set_aside.iter_mut().rev().find(|(t, _)| t.holds(open)) {
                Some((tree, _)) => tree,
                None => return,
            }
        };
        tree.open[open.depth].suspended_at_us = Some(now);
    }

    /// Takes up the suspended transaction `open` again if this thread's current tree still
    /// holds it; returns whether it did.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // Only the tracing layer suspends.
    pub(crate) fn resume(&mut self, open: OpenRef) -> bool {
        match self.tree.open.get_mut(open.depth) {
            Some(o) if o.serial == open.serial && o.suspended_at_us.is_some() => {
                o.suspended_at_us = None;
                true
            }
            _ => false,
        }
    }

    /// Ends the suspended transactions at the top of the stack (each as of its suspension):
    /// something else is about to be recorded where they are.
    fn end_suspended(&mut self) {
        if self
            .tree
            .open
            .last()
            .is_none_or(|o| o.suspended_at_us.is_none())
        {
            return;
        }
        // The root is never suspended, so this stops at depth 1.
        let mut depth = self.tree.open.len();
        while depth > 1 && self.tree.open[depth - 1].suspended_at_us.is_some() {
            depth -= 1;
        }
        if let Some(&Open { serial, .. }) = self.tree.open.get(depth) {
            self.end_transaction(OpenRef { depth, serial });
        }
    }

    /// Runs `f` with the tree that holds the open transaction `open` as this thread's tree:
    /// the current tree, or else one that [`with_bound`] set aside (a guard of it was moved
    /// into the closure). A set-aside tree is swapped in with the binding its client was
    /// resolved through, so that what `f` records goes to that tree, and its cuts and its end
    /// to that client. `None` (and `f` not run) if `open` is open in neither.
    pub(crate) fn in_tree_of<R>(
        &mut self,
        open: OpenRef,
        f: impl FnOnce(&mut Self) -> R,
    ) -> Option<R> {
        if self.is_open(open) {
            return Some(f(self));
        }
        self.in_set_aside(open, f)
    }

    /// [`ThreadState::in_tree_of`] for a tree that [`with_bound`] set aside only. `f` must not
    /// set trees aside or restore them: the tree goes back to the slot it was taken from.
    fn in_set_aside<R>(&mut self, open: OpenRef, f: impl FnOnce(&mut Self) -> R) -> Option<R> {
        let i = self
            .set_aside
            .iter()
            .rposition(|(tree, _)| tree.holds(open))?;
        let bound = self.set_aside[i].1.clone();
        let inner_bound = std::mem::replace(&mut self.bound, bound);
        std::mem::swap(&mut self.tree, &mut self.set_aside[i].0);
        let result = f(self);
        std::mem::swap(&mut self.tree, &mut self.set_aside[i].0);
        self.bound = inner_bound;
        Some(result)
    }

    /// The root of this thread's current tree, if one is open.
    fn root(&self) -> Option<OpenRef> {
        self.tree.open.first().map(|o| OpenRef {
            depth: 0,
            serial: o.serial,
        })
    }

    /// Ends this thread's current tree: its root and everything still open in it.
    pub(crate) fn end_root(&mut self) {
        if let Some(root) = self.root() {
            self.end_transaction(root);
        }
    }

    /// Ends this thread's current tree with `status` on its root (unless the application
    /// already gave the root a failure status).
    pub(crate) fn fail_root_and_end(&mut self, status: Text) {
        if let Some(root) = self.root() {
            self.fail_transaction(root, status);
            self.end_transaction(root);
        }
    }

    /// Logs a leaf into the open transaction, or as a tree of its own.
    pub(crate) fn log(&mut self, kind: Kind, type_: Text, name: Text, status: Text, data: String) {
        self.end_suspended();
        if self.tree.open.is_empty() && self.client().is_none() {
            return;
        }
        if self.tree.open.is_empty() {
            // A leaf outside any transaction is a root: re-read a stale wall clock as a root
            // transaction does, or a thread that only logs such events keeps its first anchor.
            self.clock.refresh();
        }
        let now = self.clock.now_us();
        let mut record = Record::new(kind, type_, name, status, now);
        record.data = data;
        if self.tree.open.is_empty() {
            if let Some((_, adopted)) = self.pending.take() {
                self.adopt_now(adopted);
            }
            self.push(record, now);
            self.finish_tree(now);
        } else {
            self.push(record, now);
        }
    }

    /// Adds a metric logged while no transaction is open to the client's aggregator (the
    /// caller checked both). Gives the name back if the aggregator takes nothing more (the
    /// client is shutting down), for the caller to [`ThreadState::log`] it as a tree of its own.
    ///
    /// IDs adopted for the next root stay for it: a metric no longer makes a tree to take them.
    pub(crate) fn aggregate_metric(&mut self, name: Text, amount: Amount) -> Result<(), Text> {
        // As a root would: the metric's minute comes from this clock, so keep it anchored.
        self.clock.refresh();
        let now_ms = self.clock.now_us() / 1000;
        let thread = thread_number(&mut self.thread);
        let pid = self.pid.pid(now_ms * 1000);
        match resolve(self.sdk_thread, &self.tree.pinned, &self.bound) {
            Some(client) => client
                .pipeline(pid)
                .aggregate_metric(thread, name, amount, now_ms),
            None => Ok(()),
        }
    }

    /// The tree that holds the open transaction `open`, and the index of its record: this
    /// thread's current tree, or else one that [`with_bound`] set aside while its closure
    /// runs (a guard of the outer tree moved into the closure edits its own transaction, not
    /// one of the closure's client). `None` if it has ended.
    fn tree_of(&mut self, open: OpenRef) -> Option<(&mut TreeBuilder, usize)> {
        let tree = if self.tree.holds(open) {
            &mut self.tree
        } else {
            let (tree, _) = self
                .set_aside
                .iter_mut()
                .rev()
                .find(|(tree, _)| tree.holds(open))?;
            tree
        };
        let index = tree.open[open.depth].index;
        Some((tree, index))
    }

    /// Appends `key=value` (joined with `&`) to the data of the transaction `open`.
    pub(crate) fn add_data(&mut self, open: OpenRef, key: &dyn Display, value: &dyn Display) {
        self.append_data(open, format_args!("{key}={value}"));
    }

    /// Appends `pairs` (already `k=v&k=v`, joined to existing data with `&`) to the data of
    /// the transaction `open`.
    pub(crate) fn append_data(&mut self, open: OpenRef, pairs: std::fmt::Arguments<'_>) {
        let Some((tree, index)) = self.tree_of(open) else {
            return;
        };
        let record = &mut tree.records[index];
        let before = record.data.len();
        if before > 0 {
            record.data.push('&');
        }
        let _ = record.data.write_fmt(pairs);
        if before > 0 && record.data.len() == before + 1 {
            // `pairs` was empty: no dangling separator.
            record.data.truncate(before);
        }
        let grown = record.data.len() - before;
        tree.estimated_bytes += grown;
    }

    /// Sets the status of the transaction `open`, keeping the tree's size (the queue's byte
    /// bound) up to date: a status is the application's string, of any length.
    pub(crate) fn set_status(&mut self, open: OpenRef, status: Text) {
        let Some((tree, index)) = self.tree_of(open) else {
            return;
        };
        let record = &mut tree.records[index];
        let before = std::mem::replace(&mut record.status, status).len();
        let after = record.status.len();
        tree.estimated_bytes = (tree.estimated_bytes + after).saturating_sub(before);
    }

    /// Marks the transaction `open` failed with `status`, unless the application already gave
    /// it a failure status (which says more than the generic one).
    pub(crate) fn fail_transaction(&mut self, open: OpenRef, status: Text) {
        if let Some((tree, index)) = self.tree_of(open) {
            let record = &mut tree.records[index];
            if record.status == SUCCESS {
                record.status = status;
            }
        }
    }

    /// The innermost transaction open in this thread's current tree (a suspended one has ended:
    /// the caller works outside its span).
    pub(crate) fn innermost(&mut self) -> Option<OpenRef> {
        self.end_suspended();
        let depth = self.tree.open.len().checked_sub(1)?;
        Some(OpenRef {
            depth,
            serial: self.tree.open[depth].serial,
        })
    }

    /// Marks the innermost open transaction failed, unless it already has a failure status.
    pub(crate) fn fail_innermost(&mut self, status: Text) {
        self.end_suspended();
        let Some(&Open { index, .. }) = self.tree.open.last() else {
            return;
        };
        let record = &mut self.tree.records[index];
        if record.status == SUCCESS {
            record.status = status;
        }
    }

    /// This tree's own ID and its root's ID, allocating the own ID if needed. `None` without a
    /// client.
    pub(crate) fn current_ids(&mut self) -> Option<(String, String)> {
        let pid = current_pid();
        let id = match &self.tree.message_id {
            Some(id) if self.tree.id_pid == pid => id.clone(),
            _ => {
                let id = self.client()?.next_message_id_string();
                self.tree.message_id = Some(id.clone());
                self.tree.id_pid = pid;
                id
            }
        };
        let root = self.tree.root_id.clone().unwrap_or_else(|| id.clone());
        Some((id, root))
    }

    /// The open tree's own ID (allocated now if it has none yet), or `None` when no
    /// transaction is open on this thread or there is no client.
    pub(crate) fn open_tree_id(&mut self) -> Option<String> {
        if self.tree.open.is_empty() {
            return None;
        }
        self.current_ids().map(|(own, _)| own)
    }

    /// Takes the caller's IDs: now if a tree is open (returns `None`), else for the next root
    /// (returns the serial that [`ThreadState::withdraw_pending`] needs).
    pub(crate) fn adopt(&mut self, ctx: Context) -> Option<u64> {
        let adopted = self.adopted_ids(ctx);
        if self.tree.open.is_empty() {
            let serial = self.next_serial();
            self.pending = Some((serial, adopted));
            Some(serial)
        } else {
            self.adopt_now(adopted);
            None
        }
    }

    /// The caller's IDs `ctx`, adopted in this process, for a root to take.
    pub(crate) fn adopted_ids(&mut self, ctx: Context) -> AdoptedIds {
        let now_us = self.clock.now_us();
        AdoptedIds {
            ctx,
            pid: self.pid.pid(now_us),
        }
    }

    /// Forgets IDs adopted for the next root if no root has taken them yet.
    pub(crate) fn withdraw_pending(&mut self, serial: u64) {
        if self.pending.as_ref().is_some_and(|(s, _)| *s == serial) {
            self.pending = None;
        }
    }

    /// Takes IDs adopted for the next root, for a future that will start that root on
    /// whichever thread polls it first.
    pub(crate) fn take_pending(&mut self) -> Option<AdoptedIds> {
        self.pending.take().map(|(_, adopted)| adopted)
    }

    /// With no tree open, gives the IDs adopted for the next root to the tree about to start
    /// (a leaf logged now is that root), so that its ID can be read before it is logged.
    pub(crate) fn adopt_pending_for_leaf(&mut self) {
        if self.tree.open.is_empty() {
            if let Some((_, adopted)) = self.pending.take() {
                self.adopt_now(adopted);
            }
        }
    }

    /// Gives the current tree the IDs `adopted` carries. The tree keeps the pid of the
    /// process that adopted them, not this one's: IDs adopted for the next root before a fork
    /// name the root the parent starts, and the root a child starts with its copy of them
    /// gets an ID of its own when it is sent (keeping the caller's parent and root IDs), as a
    /// tree open at the fork does.
    fn adopt_now(&mut self, adopted: AdoptedIds) {
        let AdoptedIds { ctx, pid } = adopted;
        self.tree.id_pid = pid;
        self.tree.message_id = Some(ctx.child_id);
        self.tree.parent_id = Some(ctx.parent_id);
        self.tree.root_id = Some(ctx.root_id);
    }

    /// Swaps this thread's tree with `other` (futures carry their tree between polls).
    pub(crate) fn swap_tree(&mut self, other: &mut TreeBuilder) {
        std::mem::swap(&mut self.tree, other);
    }

    fn push(&mut self, record: Record, now_us: u64) {
        if !self.tree.open.is_empty() {
            let root_hour = hour_of(self.tree.records[0].timestamp_us / 1000);
            let hour = hour_of((now_us / 1000).saturating_sub(HOUR_SPLIT_SLACK_MS));
            if self.tree.children_in_part >= MAX_MESSAGES_PER_PART || hour > root_hour {
                self.cut(now_us);
            }
            self.tree.children_in_part += 1;
        }
        self.tree.estimated_bytes += record.estimated_bytes();
        self.tree.records.push(record);
    }

    /// Sends what the tree holds so far and continues the open transactions in a new part.
    ///
    /// As in CAT's `truncateAndFlush` (reference 1.4), the part sent carries copies of the open
    /// transactions with status `"0"`, and the continuing transactions keep the status and data
    /// the application gave them. The server skips a root whose last child is `RemoteCall/Next`,
    /// so only the last part is counted, and it must say whether the whole transaction failed.
    fn cut(&mut self, now_us: u64) {
        let ids = match self.client().cloned() {
            Some(client) => self.current_ids().map(|ids| (client, ids)),
            None => None,
        };
        let Some((client, (part_id, root_id))) = ids else {
            // No client to send the part to (a guard that outlived `with_client`): the part
            // is let go, or the tree would grow for as long as the guard lives. The open
            // transactions go on in a fresh part.
            let continuation = self.tree.continuation(now_us);
            self.tree.records.clear();
            self.tree.continue_with(continuation);
            return;
        };
        let continuation_id = client.next_message_id_string();
        let continuation = self.tree.continuation(now_us);
        let tree = &mut self.tree;
        let open = &tree.open;
        let len = tree.records.len();
        for o in open {
            let record = &mut tree.records[o.index];
            record.duration_us = now_us.saturating_sub(record.timestamp_us);
            record.end = len;
            record.status = Text::Borrowed(SUCCESS);
        }
        let mut next = Record::new(
            Kind::Event,
            Text::Borrowed("RemoteCall"),
            Text::Borrowed("Next"),
            Text::Borrowed(SUCCESS),
            now_us,
        );
        next.data.clone_from(&continuation_id);
        tree.estimated_bytes += next.estimated_bytes();
        tree.records.push(next);
        tree.records[0].end = tree.records.len();
        tree.truncated_total_us += tree.records[0].duration_us;
        let part_records = std::mem::take(&mut tree.records);
        let part_ids = TreeIds {
            message_id: part_id.clone(),
            own_id: None,
            parent_id: tree.parent_id.take().unwrap_or_default(),
            root_id: tree.root_id.take().unwrap_or_default(),
        };
        let part_bytes = std::mem::take(&mut tree.estimated_bytes);
        tree.message_id = Some(continuation_id);
        tree.id_pid = current_pid();
        tree.parent_id = Some(part_id);
        tree.root_id = Some(root_id);
        tree.continue_with(continuation);
        self.submit(&client, part_records, part_ids, part_bytes);
    }

    fn finish_tree(&mut self, now_us: u64) {
        // Fields are borrowed one by one (not through `self.client()`) so the client can be
        // used by reference while the records move out: no refcount traffic per tree.
        let TreeBuilder {
            records,
            message_id,
            id_pid,
            parent_id,
            root_id,
            estimated_bytes,
            truncated_total_us,
            children_in_part,
            pinned,
            ..
        } = &mut self.tree;
        let client = resolve(self.sdk_thread, pinned, &self.bound);
        let total_us = std::mem::take(truncated_total_us);
        let bytes = std::mem::take(estimated_bytes);
        *children_in_part = 0;
        let (message_id, parent_id, root_id) =
            (message_id.take(), parent_id.take(), root_id.take());
        let Some(client) = client else {
            records.clear();
            return;
        };
        let pid = self.pid.pid(now_us);
        let pipeline = client.pipeline(pid);
        // Drawn or adopted in the process this one was forked from, which sends its own copy
        // of the tree under it: this copy gets an ID of its own.
        let message_id = message_id.filter(|_| *id_pid == pid);
        // Sampling (see `sampling.rs`): a discardable tree that is not a hit is added to the
        // client's tree aggregator instead of sent, and needs no message ID. This thread's
        // buffer keeps its capacity, so that path allocates nothing for names seen before. The
        // last part of a cut tree is always sent: its root's duration comes from its event. So
        // is a tree whose ID has already left it (adopted from a caller, given to a callee as
        // the parent of a `RemoteCall`, or read by `current_message_id` for a log line): that
        // ID must name a tree the collector has.
        if total_us == 0
            && message_id.is_none()
            && client.sampling_decision(records) == Decision::Aggregate
        {
            let thread = thread_number(&mut self.thread);
            if pipeline.aggregate_tree(thread, records) {
                records.clear();
                return;
            }
        }
        if total_us > 0 && records[0].kind == Kind::Transaction {
            let total = total_us + records[0].duration_us;
            let mut event = Record::new(
                Kind::Event,
                Text::Borrowed("TruncatedTransaction"),
                Text::Borrowed("TotalDuration"),
                Text::Borrowed(SUCCESS),
                now_us,
            );
            event.data = total.to_string();
            records.push(event);
            records[0].end = records.len();
        }
        // An own ID is drawn now but formatted by the sender thread.
        let (message_id, own_id) = match message_id {
            Some(id) => (id, None),
            None => (
                String::new(),
                Some(pipeline.next_id_parts(hour_of(now_us / 1000))),
            ),
        };
        let ids = TreeIds {
            message_id,
            own_id,
            parent_id: parent_id.unwrap_or_default(),
            root_id: root_id.unwrap_or_default(),
        };
        // Copy the records out (one exact-size allocation) so this thread's buffer keeps its
        // capacity: the next tree records without allocating.
        let mut out = Vec::with_capacity(records.len());
        out.append(records);
        let records = out;
        let (thread_id, thread_name) = thread_identity(&mut self.thread);
        pipeline.submit(FinishedTree {
            records,
            ids,
            thread_id,
            thread_name,
            estimated_bytes: bytes,
        });
    }

    fn submit(&mut self, client: &Client, records: Vec<Record>, ids: TreeIds, bytes: usize) {
        let (thread_id, thread_name) = thread_identity(&mut self.thread);
        // A cut is rare: a fresh reading of the pid.
        client.pipeline(current_pid()).submit(FinishedTree {
            records,
            ids,
            thread_id,
            thread_name,
            estimated_bytes: bytes,
        });
    }
}

/// This thread's number and name, fixed on first use.
fn thread_identity(slot: &mut Option<(u64, Arc<str>)>) -> (u64, Arc<str>) {
    let (id, name) = slot.get_or_insert_with(new_thread_identity);
    (*id, name.clone())
}

/// This thread's number alone: no refcount traffic on the per-transaction path.
fn thread_number(slot: &mut Option<(u64, Arc<str>)>) -> u64 {
    slot.get_or_insert_with(new_thread_identity).0
}

fn new_thread_identity() -> (u64, Arc<str>) {
    let id = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
    let current = std::thread::current();
    (id, Arc::from(current.name().unwrap_or("unnamed")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event, transaction, with_client, MemoryTransport};
    use ocelot_protocol::MILLIS_PER_HOUR;

    fn shift_clock_to(target_us: u64) {
        with_state(|s| {
            s.clock.offset_us = 0;
            let real = s.clock.now_us();
            s.clock.offset_us = target_us as i64 - real as i64;
        });
    }

    /// A suspended transaction (a `tracing` span left between two polls) goes on if resumed
    /// first. Once something else is recorded where it is, or its parent ends, it ends as of
    /// its suspension, and a stale handle resumes nothing.
    #[test]
    fn a_suspended_transaction_ends_as_of_its_suspension_unless_resumed_first() {
        let (transport, sink) = MemoryTransport::new();
        let client = Client::builder()
            .domain("suspended")
            .heartbeat_interval(None)
            .transport(transport)
            .build();
        let start = |s: &mut ThreadState, name: &'static str| {
            s.start_transaction(Text::Borrowed("SQL"), Text::Borrowed(name))
        };
        with_client(&client, || {
            let _root = transaction!("Job", "run");
            let start_us = with_state(|s| s.clock.now_us()).unwrap();
            let query = with_state(|s| start(s, "query")).flatten().unwrap();
            with_state(|s| s.suspend(query));
            shift_clock_to(start_us + 1_000_000);
            assert_eq!(with_state(|s| s.resume(query)), Some(true));
            event!("Step", "inside");
            with_state(|s| s.suspend(query));
            shift_clock_to(start_us + 5_000_000);
            event!("Step", "outside");
            assert_eq!(with_state(|s| s.resume(query)), Some(false));
            let last = with_state(|s| start(s, "last")).flatten().unwrap();
            with_state(|s| s.suspend(last));
            shift_clock_to(start_us + 9_000_000);
        });
        with_state(|s| s.clock.offset_us = 0);
        assert!(client.flush(std::time::Duration::from_secs(5)));
        let trees = sink.trees();
        assert_eq!(trees.len(), 1);
        let root = trees[0].root.as_transaction().unwrap();
        let children: Vec<&str> = root.children.iter().map(|m| m.name()).collect();
        assert_eq!(children, ["query", "outside", "last"]);
        let query = root.children[0].as_transaction().unwrap();
        assert_eq!(query.children[0].name(), "inside");
        assert!(
            (900_000..2_000_000).contains(&query.duration_us),
            "ends as of its suspension, about 1 s in: {} us",
            query.duration_us
        );
        let last = root.children[2].as_transaction().unwrap();
        assert!(last.duration_us < 1_000_000, "{} us", last.duration_us);
        assert!(root.duration_us >= 9_000_000, "{} us", root.duration_us);
    }

    /// An event outside any transaction is a tree of its own, and its timestamp (and the hour
    /// of its ID) must follow a corrected system clock as a root transaction's does. It used
    /// to read the thread's first anchor forever on a thread that logs only such events.
    #[test]
    fn an_event_outside_any_transaction_rereads_a_stale_wall_clock() {
        let (transport, _sink) = MemoryTransport::new();
        let client = Client::builder()
            .domain("events-only")
            .heartbeat_interval(None)
            .transport(transport)
            .build();
        with_client(&client, || {
            let anchored = with_state(|s| {
                s.clock = crate::clock::Clock::reanchoring_after(std::time::Duration::ZERO);
                s.clock.now_us();
                s.clock.stale_at()
            })
            .flatten()
            .expect("anchored");
            event!("Job", "tick");
            let after = with_state(|s| s.clock.stale_at())
                .flatten()
                .expect("anchored");
            assert!(after > anchored, "the event kept the stale anchor");
        });
        with_state(|s| s.clock = crate::clock::Clock::new());
    }

    /// A guard taken out of `with_client` keeps its tree open on a thread with no client:
    /// what is logged under it has nowhere to go, and used to pile up for as long as the
    /// guard lived (cut needs a client, so the tree was never cut).
    #[test]
    fn a_guard_that_outlives_its_client_does_not_grow_its_tree_without_bound() {
        let (transport, sink) = MemoryTransport::new();
        let client = Client::builder()
            .domain("outlived")
            .heartbeat_interval(None)
            .transport(transport)
            .build();
        let guard = with_client(&client, || transaction!("Job", "long-lived"));
        assert!(with_state(|s| s.client().is_none()).unwrap());
        for _ in 0..5 * MAX_MESSAGES_PER_PART {
            event!("Step", "after-the-client");
        }
        let held = with_state(|s| s.tree.records.len()).unwrap();
        assert!(held <= MAX_MESSAGES_PER_PART + 1, "{held} records held");
        drop(guard);
        assert_eq!(with_state(|s| s.tree.records.len()), Some(0));
        assert!(with_state(|s| s.tree.open.is_empty()).unwrap());
        assert!(client.flush(std::time::Duration::from_secs(5)));
        assert!(sink.trees().is_empty(), "nothing had a client to go to");
        // The thread records normally again once it has a client.
        with_client(&client, || {
            let _t = transaction!("Job", "next");
            event!("Step", "one");
        });
        assert!(client.flush(std::time::Duration::from_secs(5)));
        assert_eq!(sink.trees().len(), 1);
    }

    #[test]
    fn a_tree_crossing_the_hour_is_cut_once_the_slack_has_passed() {
        let (transport, sink) = MemoryTransport::new();
        let client = Client::builder()
            .domain("hourly")
            .heartbeat_interval(None)
            .transport(transport)
            .build();
        let now_ms = crate::clock::now_ms();
        let next_hour_ms = (now_ms / MILLIS_PER_HOUR + 1) * MILLIS_PER_HOUR;
        with_client(&client, || {
            shift_clock_to((next_hour_ms - 1_000) * 1000);
            let _t = transaction!("Job", "across");
            event!("Step", "before");
            // 5 s into the new hour: still within CAT's 10 s slack, no cut.
            shift_clock_to((next_hour_ms + 5_000) * 1000);
            event!("Step", "within-slack");
            shift_clock_to((next_hour_ms + 11_000) * 1000);
            event!("Step", "after");
        });
        with_state(|s| s.clock.offset_us = 0);
        assert!(client.flush(std::time::Duration::from_secs(5)));
        let trees = sink.trees();
        assert_eq!(trees.len(), 2);
        let names = |i: usize| -> Vec<String> {
            trees[i]
                .root
                .children()
                .iter()
                .map(|m| m.name().to_owned())
                .collect()
        };
        assert_eq!(names(0), ["before", "within-slack", "Next"]);
        assert_eq!(names(1), ["after", "TotalDuration"]);
        let part2 = trees[1].root.as_transaction().unwrap();
        assert_eq!(part2.timestamp_ms, next_hour_ms + 11_000);
        assert_eq!(
            trees[1].header.parent_message_id,
            trees[0].header.message_id
        );
        let first: ocelot_protocol::MessageId = trees[0].header.message_id.parse().unwrap();
        let second: ocelot_protocol::MessageId = trees[1].header.message_id.parse().unwrap();
        assert_eq!(first.domain, "hourly");
        assert_ne!(first, second);
    }
}
