//! [`walk`]: every message of a tree, depth first in wire order, without allocating.
//!
//! `Message::walk` (protocol) keeps its stack on the heap so that any depth is safe. That
//! costs a `malloc`, a few `realloc`s and a `free` per call, and every analyzer walks every
//! tree: for the problem and metric analyzers it was a quarter of their instructions. This
//! walk recurses on the call stack instead, down to [`MAX_RECURSION_DEPTH`] (real trees end
//! long before), and hands deeper subtrees to `Message::walk`, so a hostile tree nested a
//! million levels deep still cannot overflow the stack.

use ocelot_protocol::Message;

/// Levels walked by recursion; deeper subtrees go to the heap-based `Message::walk`. A
/// frame is a few dozen bytes, so this bounds the walk's stack use to a few KiB.
const MAX_RECURSION_DEPTH: usize = 64;

/// Calls `visit` on `root` and every descendant, depth first in wire order, with each
/// message's depth (0 for `root`): the same calls in the same order as `Message::walk`.
pub(crate) fn walk<'a>(root: &'a Message, mut visit: impl FnMut(&'a Message, usize)) {
    walk_from(root, 0, &mut visit);
}

fn walk_from<'a, F: FnMut(&'a Message, usize)>(message: &'a Message, depth: usize, visit: &mut F) {
    if depth == MAX_RECURSION_DEPTH {
        message.walk(|m, d| visit(m, depth + d));
        return;
    }
    visit(message, depth);
    for child in message.children() {
        walk_from(child, depth + 1, visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{Leaf, Transaction};

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
    fn visits_what_message_walk_visits_in_the_same_order_at_any_depth() {
        // Deeper chains would overflow the test's stack in `Drop`, not in the walk.
        for depth in [0, 3, MAX_RECURSION_DEPTH - 1, MAX_RECURSION_DEPTH + 5, 300] {
            let root = chain(depth);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            walk(&root, |m, d| ours.push((m as *const Message, d)));
            root.walk(|m, d| theirs.push((m as *const Message, d)));
            assert_eq!(ours, theirs, "depth {depth}");
        }
    }
}
