//! [`OcelotLayer`]: a `tracing-subscriber` layer that records `tracing` spans as CAT
//! transactions and `tracing` events as CAT events, so an app already instrumented with
//! `tracing` ships CAT trees after one line of setup:
//!
//! ```ignore
//! use tracing_subscriber::prelude::*;
//! ocelot_client::init(client);
//! tracing_subscriber::registry().with(ocelot_client::OcelotLayer::new()).init();
//! ```
//!
//! Mapping: a span's target becomes the transaction type and its name the transaction name;
//! its fields become the data (`k=v&k=v`), including those recorded later with
//! `span.record(..)`. The client is the entering thread's (bound or global), as for the macros.
//!
//! A span first entered outside any tree (a request span, such as tower-http's `TraceLayer`
//! makes for each request) is one transaction, and the root of a tree of its own, from its
//! first entry to its close, however often it is entered in between: an instrumented future
//! is entered once per poll, on whichever worker polls it. As [`crate::in_transaction`] does
//! per poll, the span keeps its tree in its extensions between entries, each entry swaps it
//! onto the entering thread and each exit swaps it back; the span's close ends it (on the
//! closing thread) and sends it. So what happens inside the span's entries (events, nested
//! spans, `in_transaction`s that stay open across polls) lands in that one tree, and nothing
//! logged between the entries does. A plain `let _e = span.enter();` gives the same tree as a
//! guard would, sent when the span is dropped rather than at the guard's exit. A span never
//! closed (leaked) never sends its tree. A panic unwinding out of an entry fails the
//! transaction that entry opened or swapped in (status `panic`), as for a guard.
//!
//! A span first entered inside a tree (a `#[tracing::instrument]` call awaited inside a
//! request span or an `in_transaction`) is a nested transaction of that tree, kept open across
//! polls as a nested `in_transaction` is: each exit suspends it and the next entry resumes it,
//! on whichever thread holds the tree then. So an awaited call is one transaction over its
//! wall time, ended by its close (an awaited future is dropped, and its span closed, right after
//! it completes). Suspended, it ends as of its last exit as soon as anything else is recorded
//! at its place in the tree, and its span's next entry opens another. That rule, rather than
//! one about who exits next, keeps sync code right whatever records in between: after
//! `span.in_scope(a); other(); span.in_scope(b)`, what `other()` logs is outside the span
//! (entries with nothing recorded between them are one transaction, the time between them
//! included). It also settles futures polled concurrently in one tree (`join!`), which cannot
//! all be open in its one stack: each shows as one or more pieces side by side, never one
//! inside another. An entry made while the thread is already in the span (a recursive call),
//! or where no tree is open (a task spawned with the span), opens a transaction for that entry
//! only, ended at its exit. A panic unwinding out of an entry fails the transaction, which
//! then ends as of that exit too (the entry `tracing` makes to drop the future resumes it
//! rather than open a second one).
//!
//! `tracing` lets one span be entered on several threads at once (tasks spawned with the
//! parent's span: `fut.in_current_span()`, `.instrument(span.clone())`) and several times on one
//! thread, and its guards may be dropped in any order. A span's own tree can be on one thread
//! only: an entry made while it is on another thread (or while this thread is already in the
//! span) opens a transaction for that entry only, in the thread's current tree. Of a nested
//! span's transactions open on several threads, the latest entry's is the one a later entry
//! may resume. So what each entry did is kept per thread, in a thread-local stack of `(span ID,
//! entry)`, and each exit undoes what its own thread's latest entry of that span did. The stack
//! also keeps the enter/exit path of nested spans off the span's shared data (a read lock on an
//! entry that resumes, nothing on exit).
//!
//! An event becomes a CAT event with type = its target and name = its callsite's name
//! (`event src/orders.rs:42`), and data = `message=<formatted message>&k=v..`. The name is
//! deliberately not the message: CAT reports keep one line per (type, name) for the hour, so
//! `info!("order {} loaded", id)` must not make one name per `id`. An `ERROR`-level event
//! becomes an `Error` event (same name and data) and fails the enclosing transaction, as
//! `error!` does.
//!
//! Spans and events on the SDK's sender thread are not recorded: that is where the
//! [`crate::Transport`] runs, and a transport that logs through `tracing` would otherwise
//! feed itself (its log line a tree, sent through it, which logs again).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};
use tracing_subscriber::Layer;

use crate::record::Kind;
use crate::tree_builder::{
    on_sdk_thread, with_state, OpenRef, ThreadState, TreeBuilder, ERROR_STATUS, PANIC_STATUS,
};

/// The layer; see the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct OcelotLayer {
    _private: (),
}

impl OcelotLayer {
    /// A layer recording into each thread's bound client, else the global one.
    pub fn new() -> Self {
        OcelotLayer { _private: () }
    }
}

/// Per-span state kept in the registry's extensions.
#[derive(Default)]
struct SpanData {
    data: String,
    tree: SpanTree,
}

/// Where a span's transactions are recorded.
#[derive(Default)]
enum SpanTree {
    /// Not entered yet.
    #[default]
    NotEntered,
    /// First entered outside any tree: the span's own tree (whose root is `root`), kept here
    /// between entries and ended when the span closes.
    Idle {
        tree: Box<TreeBuilder>,
        root: OpenRef,
    },
    /// The span's own tree is on the thread whose entry swapped it in, until that entry exits.
    Out { root: OpenRef },
    /// First entered inside a tree (or its own tree was lost): a transaction in the entering
    /// thread's tree, suspended at each exit and resumed by the next entry while nothing else
    /// has been recorded there. `open` is the one the latest entry opened.
    Nested { open: Option<OpenRef> },
}

/// What one entry of a span did on this thread, undone by its exit.
enum Entry {
    /// Opened this transaction in the thread's tree for this entry only (`None`: nothing was
    /// recorded).
    Opened(Option<OpenRef>),
    /// Opened or resumed the transaction of a span first entered inside a tree, which the
    /// exit suspends rather than ends.
    Nested(OpenRef),
    /// Swapped the span's own tree (root `root`) onto the thread; `outer` holds the thread's
    /// tree until the exit swaps them back.
    SwappedIn {
        root: OpenRef,
        outer: Box<TreeBuilder>,
    },
}

impl Entry {
    /// The transaction that fields recorded during this entry go to.
    fn transaction(&self) -> Option<OpenRef> {
        match self {
            Entry::Opened(open) => *open,
            Entry::Nested(open) => Some(*open),
            Entry::SwappedIn { root, .. } => Some(*root),
        }
    }

    /// The transaction this entry opened or resumed in the thread's current tree.
    fn nested_transaction(&self) -> Option<OpenRef> {
        match self {
            Entry::Opened(open) => *open,
            Entry::Nested(open) => Some(*open),
            Entry::SwappedIn { .. } => None,
        }
    }
}

thread_local! {
    /// The spans this thread has entered and not yet exited, latest last, each with what its
    /// entry did (kept even when nothing was recorded, so that exits still pair with their own
    /// entries) and whether the thread was unwinding already then (a span entered in a `Drop`
    /// during a panic is not failed by that panic). Usually a few entries deep, so the searches
    /// below are short and the common exit (of the latest entry) is a `pop`.
    static ENTERED: RefCell<Vec<(Id, Entry, bool)>> = const { RefCell::new(Vec::new()) };
}

/// The transaction this thread's latest entry of span `id` opened, if it is still entered.
fn entered_transaction(id: &Id) -> Option<OpenRef> {
    ENTERED
        .try_with(|entered| {
            let entered = entered.try_borrow().ok()?;
            entered
                .iter()
                .rev()
                .find(|(span, ..)| span == id)?
                .1
                .transaction()
        })
        .ok()
        .flatten()
}

/// Whether this thread is in span `id` already (an entry of it not yet exited).
fn entered_here(id: &Id) -> bool {
    ENTERED
        .try_with(|entered| {
            entered
                .try_borrow()
                .is_ok_and(|entered| entered.iter().any(|(span, ..)| span == id))
        })
        .unwrap_or(false)
}

/// Opens a transaction for one entry of the span in this thread's current tree (a root if
/// none is open).
fn open_in_thread_tree(meta: &'static Metadata<'static>, data: &str) -> Entry {
    let open = with_state(|s| {
        let open = s.start_transaction(Cow::Borrowed(meta.target()), Cow::Borrowed(meta.name()))?;
        if !data.is_empty() {
            s.append_data(open, format_args!("{data}"));
        }
        Some(open)
    })
    .flatten();
    Entry::Opened(open)
}

/// Starts the span's own tree on this thread (no tree is open here): returns its root and the
/// thread's tree, swapped out for it. `None` when nothing is recorded (no client).
fn start_own_tree(
    s: &mut ThreadState,
    meta: &'static Metadata<'static>,
    data: &str,
) -> Option<(OpenRef, Box<TreeBuilder>)> {
    // Pinned, as an `in_transaction` future's tree is: later entries may be on other threads.
    let mut tree = Box::new(TreeBuilder::new());
    tree.pinned = Some(s.client()?.clone());
    s.swap_tree(&mut tree);
    let Some(root) = s.start_transaction(Cow::Borrowed(meta.target()), Cow::Borrowed(meta.name()))
    else {
        s.swap_tree(&mut tree);
        return None;
    };
    if !data.is_empty() {
        s.append_data(root, format_args!("{data}"));
    }
    Some((root, tree))
}

/// An entry of a span first entered inside a tree that did not resume its transaction (see
/// [`SpanTree::Nested`]): opens a new one in this thread's tree, which the exit suspends and
/// the span's next entries may resume. Opened where no tree is open (a task spawned with the
/// span), it would be a root: one for this entry only, ended at the exit, or its tree would
/// wait for the span's close to be sent.
fn enter_nested(meta: &'static Metadata<'static>, span: &mut SpanData) -> Entry {
    let in_tree = with_state(|s| s.tree.depth() > 0).unwrap_or(false);
    match open_in_thread_tree(meta, &span.data) {
        Entry::Opened(Some(open)) if in_tree => {
            span.tree = SpanTree::Nested { open: Some(open) };
            Entry::Nested(open)
        }
        entry => entry,
    }
}

/// An entry of a span first entered inside a tree, under a read lock: resumes the span's
/// suspended transaction if this thread's tree holds it, or opens a transaction for this
/// entry only if the thread is in the span already (a recursive call, a future awaited inside
/// the span it was made in: resuming there would nest the span's transaction in itself).
/// `None`: [`enter_nested`] opens a new one, under a write lock.
fn resume_nested(id: &Id, meta: &'static Metadata<'static>, span: &SpanData) -> Option<Entry> {
    let SpanTree::Nested { open } = span.tree else {
        return None;
    };
    if entered_here(id) {
        return Some(open_in_thread_tree(meta, &span.data));
    }
    let open = open?;
    with_state(|s| s.resume(open))?.then_some(Entry::Nested(open))
}

/// One entry of a span not entered yet or whose first entry was not inside a tree (see
/// [`SpanTree`]).
fn enter_own_tree(meta: &'static Metadata<'static>, span: &mut SpanData) -> Entry {
    match std::mem::take(&mut span.tree) {
        SpanTree::NotEntered => match with_state(|s| s.tree.depth() > 0) {
            Some(true) => {
                span.tree = SpanTree::Nested { open: None };
                enter_nested(meta, span)
            }
            Some(false) => match with_state(|s| start_own_tree(s, meta, &span.data)).flatten() {
                Some((root, outer)) => {
                    span.tree = SpanTree::Out { root };
                    Entry::SwappedIn { root, outer }
                }
                // No client yet: a later entry may have one.
                None => Entry::Opened(None),
            },
            None => Entry::Opened(None),
        },
        SpanTree::Idle { mut tree, root } => {
            if with_state(|s| s.swap_tree(&mut tree)).is_some() {
                span.tree = SpanTree::Out { root };
                Entry::SwappedIn { root, outer: tree }
            } else {
                span.tree = SpanTree::Idle { tree, root };
                Entry::Opened(None)
            }
        }
        // Entered on two threads at once (tasks spawned with the parent's span), or again on
        // this thread: the span's tree can be on one of them only, and is in use, so this
        // entry opens a transaction of its own.
        tree @ SpanTree::Out { .. } => {
            span.tree = tree;
            open_in_thread_tree(meta, &span.data)
        }
        // First entered on another thread since this entry looked.
        tree @ SpanTree::Nested { .. } => {
            span.tree = tree;
            enter_nested(meta, span)
        }
    }
}

/// Ends a span's own tree on this thread (the span closed, or its tree came back too late).
fn end_own_tree(mut tree: Box<TreeBuilder>) {
    with_state(|s| {
        s.swap_tree(&mut tree);
        s.end_root();
        s.swap_tree(&mut tree);
    });
}

/// Collects fields as `k=v&k=v`, keeping `message` apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    data: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.push(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        } else {
            self.push(field, format_args!("{value:?}"));
        }
    }
}

impl Fields {
    fn push(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if !self.data.is_empty() {
            self.data.push('&');
        }
        let _ = write!(self.data, "{}={value}", field.name());
    }
}

/// Keeps the span's own tree (`tree`, with root `root`) in the span until its next entry, or
/// ends it now if the span has closed since this entry swapped it in. `None`: the tree was
/// lost to this entry, and later entries record as a nested span's do.
fn put_back<'a, R: LookupSpan<'a>>(
    span: Option<SpanRef<'a, R>>,
    root: OpenRef,
    tree: Option<Box<TreeBuilder>>,
) {
    let mut tree = tree;
    if let Some(span) = span {
        let mut extensions = span.extensions_mut();
        if let Some(data) = extensions.get_mut::<SpanData>() {
            if matches!(data.tree, SpanTree::Out { root: out } if out == root) {
                data.tree = match tree.take() {
                    Some(tree) => SpanTree::Idle { tree, root },
                    None => SpanTree::Nested { open: None },
                };
            }
        }
    }
    if let Some(tree) = tree {
        end_own_tree(tree);
    }
}

impl<S> Layer<S> for OcelotLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        // `replace`, not `insert`: a second `OcelotLayer` on the same registry sees the span too,
        // and `insert` asserts that the slot is empty (a panic in the host's thread).
        span.extensions_mut().replace(SpanData {
            data: fields.data,
            tree: SpanTree::NotEntered,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if fields.data.is_empty() {
            return;
        }
        // Recorded while entered on this thread: the transaction that entry opened (or the
        // span's own root) gets it too. (Transactions open on other threads keep the data
        // they started with.)
        let entered = entered_transaction(id);
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        if !data.data.is_empty() {
            data.data.push('&');
        }
        data.data.push_str(&fields.data);
        if entered.is_none() {
            // Between two entries (a field recorded after an `.await`): the span's own root, or
            // its suspended transaction if this thread's tree holds it.
            match &mut data.tree {
                SpanTree::Idle { tree, root } => {
                    let root = *root;
                    with_state(|s| {
                        s.swap_tree(tree);
                        s.append_data(root, format_args!("{}", fields.data));
                        s.swap_tree(tree);
                    });
                }
                SpanTree::Nested { open: Some(open) } => {
                    let open = *open;
                    with_state(|s| s.append_data(open, format_args!("{}", fields.data)));
                }
                _ => {}
            }
        }
        drop(extensions);
        if let Some(open) = entered {
            with_state(|s| s.append_data(open, format_args!("{}", fields.data)));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = span.metadata();
        let entry = {
            // A read lock first: threads entering a nested span at once (the common case) do
            // not wait for each other.
            let extensions = span.extensions();
            let Some(data) = extensions.get::<SpanData>() else {
                return;
            };
            if let Some(entry) = resume_nested(id, meta, data) {
                entry
            } else {
                drop(extensions);
                let mut extensions = span.extensions_mut();
                let Some(data) = extensions.get_mut::<SpanData>() else {
                    return;
                };
                match data.tree {
                    SpanTree::Nested { .. } => enter_nested(meta, data),
                    _ => enter_own_tree(meta, data),
                }
            }
        };
        let _ = ENTERED.try_with(|entered| {
            if let Ok(mut entered) = entered.try_borrow_mut() {
                entered.push((id.clone(), entry, std::thread::panicking()));
            }
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        // This thread's latest entry of the span, wherever it sits: guards may be dropped out of
        // order. Ending its transaction also ends any still open inside it (entered later and
        // not yet exited); their own exits then find them ended and change nothing.
        let exited = ENTERED
            .try_with(|entered| {
                let mut entered = entered.try_borrow_mut().ok()?;
                let latest = entered.iter().rposition(|(span, ..)| span == id)?;
                let (_, entry, was_panicking) = entered.remove(latest);
                // A panic unwinding out of the entry (a guard dropped by it, a poll that
                // panicked) fails its transaction, as it fails a `TransactionGuard`'s.
                let unwinding = std::thread::panicking() && !was_panicking;
                // Swapping the span's own tree out, or suspending the span's transaction, ends
                // nothing in it, so the entries made inside it and not yet exited are ended
                // here. (Nested `in_transaction`s stay open in it, waiting for the next poll.)
                let later: Vec<OpenRef> = match entry {
                    Entry::SwappedIn { .. } | Entry::Nested(_) => entered[latest..]
                        .iter()
                        .filter_map(|(_, e, _)| e.nested_transaction())
                        .collect(),
                    Entry::Opened(_) => Vec::new(),
                };
                Some((entry, later, unwinding))
            })
            .ok()
            .flatten();
        match exited {
            Some((Entry::Opened(Some(open)), _, unwinding)) => {
                with_state(|s| {
                    if unwinding {
                        s.fail_transaction(open, Cow::Borrowed(PANIC_STATUS));
                    }
                    s.end_transaction(open);
                });
            }
            Some((Entry::Nested(open), later, unwinding)) => {
                with_state(|s| {
                    for inner in later {
                        s.end_transaction(inner);
                    }
                    if unwinding {
                        s.fail_transaction(open, Cow::Borrowed(PANIC_STATUS));
                    }
                    // Kept open for the span's next entry (the next poll of an instrumented
                    // future); its close ends it, as of now. Also after a panic: the entry
                    // `tracing` makes to drop the future resumes it rather than open another.
                    s.suspend(open);
                });
            }
            Some((Entry::SwappedIn { root, mut outer }, later, unwinding)) => {
                let swapped_out = with_state(|s| {
                    if unwinding {
                        s.fail_transaction(root, Cow::Borrowed(PANIC_STATUS));
                    }
                    for open in later {
                        s.end_transaction(open);
                    }
                    if s.is_open(root) {
                        s.swap_tree(&mut outer);
                        true
                    } else {
                        // The span's tree is no longer this thread's current one (a guard
                        // moved into `with_client` and dropped there): it ends where it is.
                        s.end_transaction(root);
                        false
                    }
                });
                let tree = (swapped_out == Some(true)).then_some(outer);
                put_back(ctx.span(id), root, tree);
            }
            Some((Entry::Opened(None), ..)) | None => {}
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        match std::mem::replace(&mut data.tree, SpanTree::Nested { open: None }) {
            SpanTree::Idle { tree, .. } => {
                drop(extensions);
                end_own_tree(tree);
            }
            // Ended as of the span's last exit, if this thread's tree still holds it. Elsewhere
            // (in a tree swapped out, idle in a request span) it ends with that tree, or as
            // soon as something else is recorded where it is.
            SpanTree::Nested { open: Some(open) } => {
                drop(extensions);
                with_state(|s| s.end_transaction(open));
            }
            // `Out` (still entered somewhere, which a span guard cannot be): that exit ends it.
            SpanTree::NotEntered | SpanTree::Out { .. } | SpanTree::Nested { open: None } => {}
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Logged by the SDK's own sending (a transport that logs): recorded, it would be a
        // tree sent through that transport, which logs again, and so on.
        let meta = event.metadata();
        // The SDK's own warnings (`rate_limited_log::warn`), for the host's logs only.
        if on_sdk_thread() || meta.target() == crate::rate_limited_log::TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let data = match fields.message {
            Some(message) if fields.data.is_empty() => format!("message={message}"),
            Some(message) => format!("message={message}&{}", fields.data),
            None => fields.data,
        };
        // `meta.name()` is `&'static`: one name per callsite, whatever the message says.
        let name = Cow::Borrowed(meta.name());
        with_state(|s| {
            if s.tree.depth() == 0 && s.client().is_none() {
                return;
            }
            if *meta.level() == Level::ERROR {
                s.log(
                    Kind::Event,
                    Cow::Borrowed("Error"),
                    name,
                    Cow::Borrowed(ERROR_STATUS),
                    data,
                );
                s.fail_innermost(Cow::Borrowed(ERROR_STATUS));
            } else {
                s.log(
                    Kind::Event,
                    Cow::Borrowed(meta.target()),
                    name,
                    Cow::Borrowed(ocelot_protocol::SUCCESS),
                    data,
                );
            }
        });
    }
}
