//! The transactions of a tree as the transaction and problem reports count them, after
//! CAT's server-side normalisation (cat-design 1.4 and 3.9).
//!
//! * A root whose last child is the event `RemoteCall/Next` is a truncated fragment: its
//!   children count, the root itself does not (its duration covers only part of the work).
//! * If the tree's last event is `TruncatedTransaction/TotalDuration`, its data (µs)
//!   becomes the root's duration.
//! * The first `URL` transaction's name has numeric path segments replaced by `{num}`,
//!   unless a `System/UploadMetric*` transaction comes before it.
//! * `System` transactions named `UploadMetric*` become `UploadMetric`.

use std::borrow::Cow;

use ocelot_protocol::names::normalize_url;
use ocelot_protocol::{MessageKind, MessageView, TreeView};

/// One transaction to count, with the name and duration the reports use.
pub(crate) struct CountedTransaction<'a> {
    pub(crate) transaction: &'a MessageView<'a>,
    pub(crate) name: Cow<'a, str>,
    pub(crate) duration_us: u64,
}

/// Calls `visit` for every transaction of `tree` that counts: the root last (its duration
/// may come from the tree's last event, known only at the end of the walk), the others
/// depth first in wire order. One pass over the view, no allocation.
pub(crate) fn for_each_counted_transaction<'a>(
    tree: &'a TreeView<'a>,
    mut visit: impl FnMut(CountedTransaction<'a>),
) {
    for_each_counted(tree, |counted| {
        if let Counted::Transaction(transaction) = counted {
            visit(transaction);
        }
    });
}

/// What [`for_each_counted`] hands out.
pub(crate) enum Counted<'a> {
    /// A transaction that counts, as [`for_each_counted_transaction`] gives it.
    Transaction(CountedTransaction<'a>),
    /// An event, and its position in the tree's messages.
    Event(&'a MessageView<'a>, usize),
    /// A heartbeat, metric or trace.
    Other(&'a MessageView<'a>),
}

/// Every message of a tree with a transaction root, in one pass: the transactions that
/// count as [`for_each_counted_transaction`] gives them (the root last), the others in wire
/// order. A tree with another root is not walked.
pub(crate) fn for_each_counted<'a>(tree: &'a TreeView<'a>, mut visit: impl FnMut(Counted<'a>)) {
    let Some((root, rest)) = tree.messages.split_first() else {
        return;
    };
    if root.kind != MessageKind::Transaction {
        return;
    }
    let mut names = ReportNames::default();
    let mut last_event = None;
    let mut counted_name =
        |transaction: &'a MessageView<'a>| names.name(transaction.type_, transaction.name);
    let root_name = counted_name(root);
    for (i, message) in rest.iter().enumerate() {
        match message.kind {
            MessageKind::Transaction => visit(Counted::Transaction(CountedTransaction {
                transaction: message,
                name: counted_name(message),
                duration_us: counted_duration(message.duration_us),
            })),
            MessageKind::Event => {
                last_event = Some(message);
                visit(Counted::Event(message, i + 1));
            }
            _ => visit(Counted::Other(message)),
        }
    }
    if is_truncated_fragment(tree) {
        return;
    }
    let total_duration_us = last_event
        .filter(|e| e.type_ == "TruncatedTransaction" && e.name == "TotalDuration")
        .and_then(|e| e.data.trim().parse().ok());
    visit(Counted::Transaction(CountedTransaction {
        transaction: root,
        name: root_name,
        duration_us: total_duration_us.unwrap_or(counted_duration(root.duration_us)),
    }));
}

/// The names the Transaction report gives a tree's transactions, asked in wire order
/// (depth first, the root first): `System` transactions named `UploadMetric*` become
/// `UploadMetric`, the first `URL` transaction's numeric path segments become `{num}`
/// ([`normalize_url`]), every other name is its own. LogView links a tree's rows to the
/// board with it.
///
/// CAT renames every `UploadMetric*` as it decodes, then walks the tree's transactions in
/// this order and stops at the first that is either a `URL` one or a `System/UploadMetric*`
/// one (`MessageTreeFormat.formatTransaction`): a `URL` transaction after an upload keeps
/// its name as sent.
#[derive(Debug, Default)]
pub struct ReportNames {
    /// Whether the URL rule has had its one chance (a `URL` or an upload was seen).
    url_rule_done: bool,
}

impl ReportNames {
    /// The report's name for the next transaction of the tree, of `type_` and `name`.
    #[inline]
    pub fn name<'a>(&mut self, type_: &str, name: &'a str) -> Cow<'a, str> {
        if type_ == "System" && name.starts_with("UploadMetric") {
            self.url_rule_done = true;
            Cow::Borrowed("UploadMetric")
        } else if !self.url_rule_done && type_ == "URL" {
            self.url_rule_done = true;
            normalize_url(name)
        } else {
            Cow::Borrowed(name)
        }
    }
}

/// A duration as the reports count it: a Java client's negative duration (a clock that
/// went back, or an unset one), which arrives as a varint above `i64::MAX`, counts as 0
/// instead of as a duration of 290 000 years that would own the hour's max and average.
#[inline]
pub(crate) fn counted_duration(duration_us: u64) -> u64 {
    if duration_us > i64::MAX as u64 {
        0
    } else {
        duration_us
    }
}

/// Whether the root's last child is the event `RemoteCall/Next` (the last message one
/// level down: what follows it in the view are its own descendants).
pub(crate) fn is_truncated_fragment(tree: &TreeView<'_>) -> bool {
    matches!(
        tree.messages.iter().rev().find(|m| m.depth == 1),
        Some(e) if e.kind == MessageKind::Event && e.type_ == "RemoteCall" && e.name == "Next"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};

    fn tree(root: Transaction) -> MessageTree {
        MessageTree::new(Header::default(), Message::Transaction(root))
    }

    #[test]
    fn only_the_first_url_transaction_is_normalised() {
        let mut root = Transaction::new("URL", "/a/1", 0);
        root.children
            .push(Message::Transaction(Transaction::new("URL", "/b/2", 0)));
        let mut names = Vec::new();
        for_each_counted_transaction(&TreeView::of(&tree(root)), |t| {
            names.push(t.name.into_owned())
        });
        assert_eq!(names, ["/b/2", "/a/{num}"]);
    }

    /// CAT's URL rule stops at the first `URL` or `System/UploadMetric*` transaction, so a
    /// `URL` after an upload keeps its name; every upload is still renamed.
    #[test]
    fn a_url_transaction_after_an_upload_metric_one_is_not_normalised() {
        let mut root = Transaction::new("Service", "pay", 0);
        root.children.push(Message::Transaction(Transaction::new(
            "System",
            "UploadMetric-1",
            0,
        )));
        root.children
            .push(Message::Transaction(Transaction::new("URL", "/a/1", 0)));
        root.children.push(Message::Transaction(Transaction::new(
            "System",
            "UploadMetric-2",
            0,
        )));
        let mut names = Vec::new();
        for_each_counted_transaction(&TreeView::of(&tree(root)), |t| {
            names.push(t.name.into_owned())
        });
        assert_eq!(names, ["UploadMetric", "/a/1", "UploadMetric", "pay"]);

        // An upload root comes before its URL children.
        let mut names = ReportNames::default();
        assert_eq!(names.name("System", "UploadMetric-3"), "UploadMetric");
        assert_eq!(names.name("URL", "/b/2"), "/b/2");

        // A URL before the upload is normalised as ever.
        let mut names = ReportNames::default();
        assert_eq!(names.name("URL", "/c/3"), "/c/{num}");
        assert_eq!(names.name("System", "UploadMetric"), "UploadMetric");
        assert_eq!(names.name("URL", "/d/4"), "/d/4");
    }

    #[test]
    fn truncated_fragment_root_is_skipped_but_children_count() {
        let mut root = Transaction::new("Bulk", "x", 0);
        root.children
            .push(Message::Transaction(Transaction::new("SQL", "q", 0)));
        root.children.push(Message::Event(Leaf::new(
            "RemoteCall",
            "Next",
            "0",
            0,
            "id",
        )));
        let mut names = Vec::new();
        for_each_counted_transaction(&TreeView::of(&tree(root)), |t| {
            names.push(t.name.into_owned())
        });
        assert_eq!(names, ["q"]);
    }

    #[test]
    fn total_duration_event_rewrites_the_root_duration_only() {
        let mut root = Transaction::new("Bulk", "x", 0);
        root.duration_us = 5;
        let mut child = Transaction::new("SQL", "q", 0);
        child.duration_us = 3;
        root.children.push(Message::Transaction(child));
        root.children.push(Message::Event(Leaf::new(
            "TruncatedTransaction",
            "TotalDuration",
            "0",
            0,
            "2468000",
        )));
        let mut durations = Vec::new();
        for_each_counted_transaction(&TreeView::of(&tree(root)), |t| {
            durations.push(t.duration_us)
        });
        assert_eq!(durations, [3, 2_468_000]);
    }

    #[test]
    fn upload_metric_names_are_merged() {
        let root = Transaction::new("System", "UploadMetric-42", 0);
        let mut names = Vec::new();
        for_each_counted_transaction(&TreeView::of(&tree(root)), |t| {
            names.push(t.name.into_owned())
        });
        assert_eq!(names, ["UploadMetric"]);
    }
}
