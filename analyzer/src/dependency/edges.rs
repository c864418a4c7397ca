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
///
/// `parents` finds the event's transaction; one per tree, for all its events.
pub(crate) fn edge_call<'t, 'a>(
    tree: &'t TreeView<'a>,
    index: usize,
    parents: &mut Parents,
) -> Option<&'t MessageView<'a>> {
    let event = tree.messages.get(index)?;
    if event.kind != MessageKind::Event || event.depth == 0 || event.name.is_empty() {
        return None;
    }
    if !is_edge_event(event) {
        return None;
    }
    // The event's transaction: the nearest message before it one level up (the view is the
    // tree depth first), usually a few messages back; past those, `parents` finds it.
    let near = index.saturating_sub(Parents::SHORT_SEARCH);
    let call = match tree.messages[near..index]
        .iter()
        .rev()
        .find(|m| m.depth + 1 == event.depth)
    {
        Some(call) => call,
        None if near == 0 => return None,
        None => tree
            .messages
            .get(parents.far(tree, index, event.depth - 1)?)?,
    };
    let call = Some(call).filter(|m| m.kind == MessageKind::Transaction)?;
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

/// Finds an event's transaction (the nearest message before it one level up: the view is
/// the tree depth first) for [`edge_call`], one tree at a time. Usually it is a few messages
/// back, and a short search finds it. Under a transaction of many children it may be far,
/// and a search back from each of many events went over all the events before it (QA:
/// 99 000 `SQL.Database` events in one tree held an analyzer thread for 6 s): the first
/// search that goes past [`Parents::SHORT_SEARCH`] messages makes a table of every
/// message's parent, in one pass, which answers the tree's later ones.
#[derive(Debug, Default)]
pub(crate) struct Parents {
    table: Option<Vec<u32>>,
}

impl Parents {
    /// Messages a search goes back over before the table is made.
    pub(crate) const SHORT_SEARCH: usize = 64;

    /// The index of the parent of the message at `index` (`None` for the root, or in a
    /// tree without it).
    #[cfg(test)]
    pub(crate) fn of(&mut self, tree: &TreeView<'_>, index: usize) -> Option<usize> {
        let above = tree.messages.get(index)?.depth.checked_sub(1)?;
        self.far(tree, index, above)
    }

    /// [`Parents::of`] for a message at depth `above + 1`.
    #[cold]
    pub(crate) fn far(&mut self, tree: &TreeView<'_>, index: usize, above: u32) -> Option<usize> {
        let messages = &tree.messages;
        if let Some(table) = &self.table {
            return table
                .get(index)
                .copied()
                .filter(|&p| p != u32::MAX)
                .map(|p| p as usize);
        }
        let start = index.saturating_sub(Self::SHORT_SEARCH);
        if let Some(at) = messages[start..index]
            .iter()
            .rposition(|m| m.depth == above)
        {
            return Some(start + at);
        }
        if start == 0 {
            return None;
        }
        let mut last_at: Vec<u32> = Vec::new();
        let table = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let d = m.depth as usize;
                let parent = d
                    .checked_sub(1)
                    .and_then(|a| last_at.get(a).copied())
                    .unwrap_or(u32::MAX);
                if last_at.len() <= d {
                    last_at.resize(d + 1, u32::MAX);
                }
                last_at[d] = i as u32;
                // Deeper ones are no longer anyone's parent after this message.
                last_at.truncate(d + 1);
                parent
            })
            .collect();
        self.table = Some(table);
        self.far(tree, index, above)
    }
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
