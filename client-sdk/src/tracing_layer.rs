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
//! its fields become the data (`k=v&k=v`). Entering a span opens the transaction on the
//! entering thread's tree and exiting ends it, so a span entered once per poll of an
//! instrumented future gives one transaction per poll (use [`crate::in_transaction`] for one
//! transaction over the whole future). An event becomes an event (type = target, name = its
//! message, data = its other fields); an `ERROR`-level event becomes an `Error` event and
//! fails the enclosing transaction, as `error!` does. The client is the entering thread's
//! (bound or global), as for the macros.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::record::Kind;
use crate::tree_builder::{with_state, ERROR_STATUS};

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
    /// Depth of the transaction opened by the last `enter`, if recording.
    depth: Option<usize>,
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
        span.extensions_mut().insert(SpanData {
            data: fields.data,
            depth: None,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut extensions = span.extensions_mut();
        if let Some(data) = extensions.get_mut::<SpanData>() {
            if !data.data.is_empty() && !fields.data.is_empty() {
                data.data.push('&');
            }
            data.data.push_str(&fields.data);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let meta = span.metadata();
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        data.depth = with_state(|s| {
            let depth =
                s.start_transaction(Cow::Borrowed(meta.target()), Cow::Borrowed(meta.name()))?;
            if !data.data.is_empty() {
                if let Some(record) = s.transaction_mut(depth) {
                    record.data.clone_from(&data.data);
                }
            }
            Some(depth)
        })
        .flatten();
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(depth) = extensions
            .get_mut::<SpanData>()
            .and_then(|d| d.depth.take())
        else {
            return;
        };
        with_state(|s| s.end_transaction(depth));
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name: Cow<'static, str> = match fields.message {
            Some(message) => Cow::Owned(message),
            None => Cow::Borrowed(meta.name()),
        };
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
                    fields.data,
                );
                s.fail_innermost(Cow::Borrowed(ERROR_STATUS));
            } else {
                s.log(
                    Kind::Event,
                    Cow::Borrowed(meta.target()),
                    name,
                    Cow::Borrowed(ocelot_protocol::SUCCESS),
                    fields.data,
                );
            }
        });
    }
}
