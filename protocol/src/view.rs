//! [`TreeView`]: a tree as a flat list of borrowed messages, for readers that only count.
//!
//! A [`MessageTree`] owns its strings and nests its messages, which is what a tree built by
//! a client or shown in LogView needs. The collector's reports read each message once, in
//! wire order, and keep nothing of it but keys they already hold: for them a tree is the
//! list of its messages in depth-first order, each with its depth, its strings borrowed from
//! the frame. [`crate::nt1::decode_view`] builds that list straight from the wire (no string
//! is copied, no message allocated), and [`TreeView::of`] from a [`MessageTree`], so one
//! reader serves both.

use crate::message::{Message, MessageKind, MessageTree, SUCCESS};

/// One message of a [`TreeView`]: its own fields, not its children (they follow it in the
/// view, one level deeper).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageView<'a> {
    /// What kind of message this is.
    pub kind: MessageKind,
    /// 0 for the root, 1 for its children, and so on.
    pub depth: u32,
    /// When it started (epoch ms).
    pub timestamp_ms: u64,
    /// A transaction's duration in microseconds; 0 for the other kinds.
    pub duration_us: u64,
    /// CAT type, e.g. `URL`.
    pub type_: &'a str,
    /// CAT name, e.g. `/api/order`.
    pub name: &'a str,
    /// `"0"` for success, anything else is a failure.
    pub status: &'a str,
    /// Free-form payload (empty where the decode did not keep it).
    pub data: &'a str,
}

impl MessageView<'_> {
    /// Whether the status is CAT's success, `"0"`.
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

/// A tree as the list of its messages, depth first in wire order (a transaction before its
/// children), with the three header fields the reports read.
///
/// The list's allocation outlives the frames it borrows from: [`TreeView::recycle`] empties
/// a view and frees it of its borrow, so one thread can decode tree after tree into one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeView<'a> {
    /// The client application's domain.
    pub domain: &'a str,
    /// The client machine's IP address.
    pub ip_address: &'a str,
    /// The tree's message ID (`domain-hexip-hour-seq`), or empty.
    pub message_id: &'a str,
    /// Every message, the root first, depth first in wire order.
    pub messages: Vec<MessageView<'a>>,
    /// Indices of the transactions open while decoding (see `nt1::decode_view`); kept here
    /// so that its allocation is reused too.
    pub(crate) open: Vec<u32>,
}

impl<'a> TreeView<'a> {
    /// The view of `tree`: its domain, IP, message ID and every message, borrowed.
    pub fn of(tree: &'a MessageTree) -> TreeView<'a> {
        let mut view = TreeView::default();
        view.fill(tree);
        view
    }

    /// Fills this (empty) view with `tree`, as [`TreeView::of`] does, reusing the list.
    pub fn fill(&mut self, tree: &'a MessageTree) {
        self.domain = &tree.header.domain;
        self.ip_address = &tree.header.ip_address;
        self.message_id = &tree.header.message_id;
        self.messages.clear();
        push_from(&mut self.messages, &tree.root, 0);
    }

    /// The message ID, if set (empty and `null` mean absent, as in [`crate::Header`]).
    pub fn message_id(&self) -> Option<&'a str> {
        crate::message::present(self.message_id)
    }

    /// The root message (a view always holds one once filled or decoded).
    pub fn root(&self) -> Option<&MessageView<'a>> {
        self.messages.first()
    }

    /// This view, emptied and free of its borrow, its allocations kept for the next tree.
    pub fn recycle<'b>(self) -> TreeView<'b> {
        let TreeView {
            mut messages,
            mut open,
            ..
        } = self;
        messages.clear();
        open.clear();
        TreeView {
            domain: "",
            ip_address: "",
            message_id: "",
            // Empty, so the closure never runs; a `Vec`'s `IntoIter` collects into a `Vec`
            // of the same layout in place, keeping the allocation.
            messages: messages.into_iter().map(|m| m.rebind()).collect(),
            open,
        }
    }
}

/// Levels [`TreeView::fill`] takes by recursion; deeper subtrees go to the heap-based
/// `Message::walk` (which allocates its stack: a cost per tree if every tree took it). A
/// frame is a few dozen bytes, so this bounds the stack used to a few KiB, whatever the
/// depth of a hostile tree.
const MAX_RECURSION_DEPTH: u32 = 64;

/// Pushes `message` at `depth` and its descendants, depth first in wire order.
fn push_from<'a>(out: &mut Vec<MessageView<'a>>, message: &'a Message, depth: u32) {
    if depth == MAX_RECURSION_DEPTH {
        message.walk(|m, d| {
            let d = u32::try_from(d).unwrap_or(u32::MAX);
            out.push(MessageView::of(m, depth.saturating_add(d)));
        });
        return;
    }
    out.push(MessageView::of(message, depth));
    for child in message.children() {
        push_from(out, child, depth + 1);
    }
}

impl<'a> MessageView<'a> {
    /// `message`'s own fields at `depth`.
    pub fn of(message: &'a Message, depth: u32) -> MessageView<'a> {
        match message {
            Message::Transaction(t) => MessageView {
                kind: MessageKind::Transaction,
                depth,
                timestamp_ms: t.timestamp_ms,
                duration_us: t.duration_us,
                type_: &t.type_,
                name: &t.name,
                status: &t.status,
                data: &t.data,
            },
            Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => {
                MessageView {
                    kind: message.kind(),
                    depth,
                    timestamp_ms: l.timestamp_ms,
                    duration_us: 0,
                    type_: &l.type_,
                    name: &l.name,
                    status: &l.status,
                    data: &l.data,
                }
            }
        }
    }

    /// For [`TreeView::recycle`], whose list is empty: never called.
    fn rebind<'b>(self) -> MessageView<'b> {
        MessageView {
            type_: "",
            name: "",
            status: "",
            data: "",
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Header, Leaf, Transaction};

    #[test]
    fn a_view_lists_messages_depth_first_with_their_depths() {
        let mut root = Transaction::new("URL", "/a", 10);
        root.duration_us = 7;
        let mut sql = Transaction::new("SQL", "q", 11);
        sql.children
            .push(Message::Event(Leaf::new("E", "inner", "0", 12, "d")));
        root.children.push(Message::Transaction(sql));
        root.children
            .push(Message::Event(Leaf::new("E", "last", "1", 13, "")));
        let tree = MessageTree::new(
            Header {
                domain: "shop".into(),
                ip_address: "10.0.0.1".into(),
                message_id: "shop-0a000001-1-1".into(),
                ..Header::default()
            },
            Message::Transaction(root),
        );
        let view = TreeView::of(&tree);
        assert_eq!(
            (view.domain, view.ip_address, view.message_id),
            ("shop", "10.0.0.1", "shop-0a000001-1-1")
        );
        let names: Vec<(&str, u32)> = view.messages.iter().map(|m| (m.name, m.depth)).collect();
        assert_eq!(names, [("/a", 0), ("q", 1), ("inner", 2), ("last", 1)]);
        assert_eq!(view.root().unwrap().duration_us, 7);
        assert!(view.messages[2].is_success() && !view.messages[3].is_success());
    }

    /// A chain `depth` transactions deep, each also holding one event.
    fn chain(depth: usize) -> Message {
        let mut message = Message::Event(Leaf::new("E", "leaf", "0", 0, ""));
        for i in 0..depth {
            let mut t = Transaction::new("T", i.to_string(), 0);
            t.children
                .push(Message::Event(Leaf::new("E", "x", "0", 0, "")));
            t.children.push(message);
            message = Message::Transaction(t);
        }
        message
    }

    #[test]
    fn a_view_lists_what_message_walk_visits_at_any_depth() {
        // Deeper chains would overflow the test's stack in `Drop`, not in the view.
        for depth in [0, 3, 63, 64, 69, 300] {
            let tree = MessageTree::new(Header::default(), chain(depth));
            let mut theirs = Vec::new();
            tree.root
                .walk(|m, d| theirs.push(MessageView::of(m, d as u32)));
            assert_eq!(TreeView::of(&tree).messages, theirs, "depth {depth}");
        }
    }

    #[test]
    fn a_recycled_view_keeps_its_allocation() {
        let tree = MessageTree::new(
            Header::default(),
            Message::Transaction(Transaction::new("URL", "/a", 1)),
        );
        let view = TreeView::of(&tree);
        let capacity = view.messages.capacity();
        let recycled: TreeView<'static> = view.recycle();
        assert!(recycled.messages.is_empty());
        assert_eq!(recycled.messages.capacity(), capacity);
    }
}
