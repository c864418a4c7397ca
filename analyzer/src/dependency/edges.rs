//! Which events name an edge, and the call they count.

use ocelot_protocol::{MessageKind, MessageView, TreeView};

/// The dependency kind of a database edge (CAT's `Database:<db>`).
const DATABASE: &str = "Database";

/// Whether `event` may name an edge: `SQL.Database`, or a `<type>.app` event (which names
/// one when its transaction is of that type). Checked for every event of every tree, so
/// only the type's end is looked at; [`edge_call`] decides.
#[inline]
pub(crate) fn is_edge_event(event: &MessageView<'_>) -> bool {
    event.type_.ends_with(".app") || event.type_ == "SQL.Database"
}

/// The transaction whose call the event at `index` of `tree` counts as an edge, if it
/// names one:
///
/// * `SQL.Database` in any transaction: the database (CAT's Java client logs the JDBC URL).
/// * `<K>.app` in a transaction of type `K`: the other side of the call, named by the
///   client. Under `Call`/`PigeonCall` it is the service called, under
///   `Service`/`PigeonService` the caller. Clients mix the two spellings of a family (CAT's
///   C client logs `PigeonService.app` inside a `Service` transaction), so either member's
///   event counts in either member's transaction.
pub(crate) fn edge_call<'t, 'a>(
    tree: &'t TreeView<'a>,
    index: usize,
) -> Option<&'t MessageView<'a>> {
    let event = tree.messages.get(index)?;
    if event.kind != MessageKind::Event || event.depth == 0 || event.name.is_empty() {
        return None;
    }
    if !is_edge_event(event) {
        return None;
    }
    // The event's transaction: the nearest message before it one level up (the view is the
    // tree depth first), usually the one just before.
    let call = tree.messages[..index]
        .iter()
        .rev()
        .find(|m| m.depth + 1 == event.depth)
        .filter(|m| m.kind == MessageKind::Transaction)?;
    if event.type_ == "SQL.Database" {
        return Some(call);
    }
    let kind = event.type_.strip_suffix(".app")?;
    let family = |t: &str| match t {
        "Call" | "PigeonCall" => Some("call"),
        "Service" | "PigeonService" => Some("service"),
        _ => None,
    };
    let belongs = kind == call.type_ || family(kind).is_some_and(|f| family(call.type_) == Some(f));
    (belongs && !kind.is_empty()).then_some(call)
}

/// The kind of the edges an event type names: `Database` for `SQL.Database`, `K` for
/// `<K>.app`.
pub(crate) fn edge_kind(event_type: &str) -> &str {
    if event_type == "SQL.Database" {
        DATABASE
    } else {
        event_type.strip_suffix(".app").unwrap_or(event_type)
    }
}
