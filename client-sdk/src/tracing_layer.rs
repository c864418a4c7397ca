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
//! `span.record(..)`. Entering a span opens the transaction on the entering thread's tree and
//! exiting ends it, so a span entered once per poll of an instrumented future gives one
//! transaction per poll (use [`crate::in_transaction`] for one transaction over the whole
//! future). The client is the entering thread's (bound or global), as for the macros.
//!
//! `tracing` lets one span be entered on several threads at once (tasks spawned with the
//! parent's span: `fut.in_current_span()`, `.instrument(span.clone())`) and several times on one
//! thread, and its guards may be dropped in any order. So the transactions an entry opened are
//! kept per thread, in a thread-local stack of `(span ID, transaction)`, not in the span: each
//! exit ends the transaction its own thread's latest entry of that span opened. The stack also
//! keeps the enter/exit path off the span's shared data (a read lock on enter, nothing on exit).
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
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::record::Kind;
use crate::tree_builder::{on_sdk_thread, with_state, OpenRef, ERROR_STATUS};

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

/// Per-span state kept in the registry's extensions. The transactions its entries opened are
/// not here but in [`ENTERED`]: they belong to the entering threads.
#[derive(Default)]
struct SpanData {
    data: String,
}

thread_local! {
    /// The spans this thread has entered and not yet exited, latest last, each with the
    /// transaction its entry opened (`None`: nothing was recorded, kept so that exits still
    /// pair with their own entries). Usually a few entries deep, so the searches below are
    /// short and the common exit (of the latest entry) is a `pop`.
    static ENTERED: RefCell<Vec<(Id, Option<OpenRef>)>> = const { RefCell::new(Vec::new()) };
}

/// The transaction this thread's latest entry of span `id` opened, if it is still entered.
fn entered_transaction(id: &Id) -> Option<OpenRef> {
    ENTERED
        .try_with(|entered| {
            let entered = entered.try_borrow().ok()?;
            entered.iter().rev().find(|(span, _)| span == id)?.1
        })
        .ok()
        .flatten()
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
        span.extensions_mut()
            .replace(SpanData { data: fields.data });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        if fields.data.is_empty() {
            return;
        }
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        if !data.data.is_empty() {
            data.data.push('&');
        }
        data.data.push_str(&fields.data);
        drop(extensions);
        // Recorded while entered on this thread: the transaction that entry opened gets it too.
        // (Transactions already open on other threads keep the data they started with.)
        if let Some(open) = entered_transaction(id) {
            with_state(|s| s.append_data(open, format_args!("{}", fields.data)));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = span.metadata();
        let open = {
            // A read lock: threads entering the span at once do not wait for each other.
            let extensions = span.extensions();
            let Some(data) = extensions.get::<SpanData>() else {
                return;
            };
            with_state(|s| {
                let open =
                    s.start_transaction(Cow::Borrowed(meta.target()), Cow::Borrowed(meta.name()))?;
                if !data.data.is_empty() {
                    s.append_data(open, format_args!("{}", data.data));
                }
                Some(open)
            })
            .flatten()
        };
        let _ = ENTERED.try_with(|entered| {
            if let Ok(mut entered) = entered.try_borrow_mut() {
                entered.push((id.clone(), open));
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // This thread's latest entry of the span, wherever it sits: guards may be dropped out of
        // order. Ending its transaction also ends any still open inside it (entered later and
        // not yet exited); their own exits then find them ended and change nothing.
        let open = ENTERED
            .try_with(|entered| {
                let mut entered = entered.try_borrow_mut().ok()?;
                let latest = entered.iter().rposition(|(span, _)| span == id)?;
                entered.remove(latest).1
            })
            .ok()
            .flatten();
        if let Some(open) = open {
            with_state(|s| s.end_transaction(open));
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
