//! Where LogView gets its trees: the [`MessageLookup`] trait, implemented over the store by
//! the binary and by [`MemoryLookup`] for tests, demos and the browser fixture.

use std::collections::HashMap;
use std::sync::RwLock;

use ocelot_protocol::{MessageId, MessageTree, WireFormat};

/// A stored tree and the wire format it arrived in: `/api/message/{id}` answers both, as
/// `ocelot lookup` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTree {
    /// The format of the stored frame.
    pub format: WireFormat,
    /// The tree decoded from it.
    pub tree: MessageTree,
}

/// Finds a stored tree by its message ID.
///
/// Called from a blocking thread (`spawn_blocking`), so implementations may read files.
pub trait MessageLookup: Send + Sync {
    /// `Ok(None)` when no tree with this ID is stored; `Err` with a description when the
    /// lookup itself failed (the detail is logged, the user sees a generic message).
    fn lookup(&self, id: &MessageId) -> Result<Option<StoredTree>, String>;
}

/// An in-memory [`MessageLookup`]: a map from message ID to tree. Trees inserted without a
/// format count as NT1, the format Ocelot's SDK sends.
#[derive(Debug, Default)]
pub struct MemoryLookup {
    trees: RwLock<HashMap<MessageId, StoredTree>>,
}

impl MemoryLookup {
    /// An empty lookup.
    pub fn new() -> Self {
        MemoryLookup::default()
    }

    /// A lookup holding `trees`; trees without a valid header message ID are skipped.
    pub fn from_trees(trees: impl IntoIterator<Item = MessageTree>) -> Self {
        let lookup = MemoryLookup::new();
        for tree in trees {
            lookup.insert(tree);
        }
        lookup
    }

    /// Stores `tree` under its header message ID, as arrived in NT1. Returns `false` (and
    /// stores nothing) when the header has no valid message ID.
    pub fn insert(&self, tree: MessageTree) -> bool {
        self.insert_as(WireFormat::Nt1, tree)
    }

    /// [`MemoryLookup::insert`] for a tree that arrived in `format`.
    pub fn insert_as(&self, format: WireFormat, tree: MessageTree) -> bool {
        let Some(Ok(id)) = tree.header.message_id().map(str::parse::<MessageId>) else {
            return false;
        };
        self.trees
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, StoredTree { format, tree });
        true
    }

    /// How many trees are stored.
    pub fn len(&self) -> usize {
        self.trees
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no tree is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl MessageLookup for MemoryLookup {
    fn lookup(&self, id: &MessageId) -> Result<Option<StoredTree>, String> {
        Ok(self
            .trees
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{Header, Leaf, Message};

    fn tree_with_id(id: &str) -> MessageTree {
        MessageTree::new(
            Header {
                message_id: id.to_owned(),
                ..Header::default()
            },
            Message::Event(Leaf::new("E", "n", "0", 1, "")),
        )
    }

    #[test]
    fn memory_lookup_finds_trees_by_parsed_id() {
        let lookup = MemoryLookup::from_trees([tree_with_id("shop-7f000001-498703-1")]);
        let id: MessageId = "shop-7f000001-498703-1".parse().unwrap();
        assert!(lookup.lookup(&id).unwrap().is_some());
        let other: MessageId = "shop-7f000001-498703-2".parse().unwrap();
        assert!(lookup.lookup(&other).unwrap().is_none());
    }

    #[test]
    fn memory_lookup_skips_trees_without_a_valid_id() {
        let lookup = MemoryLookup::new();
        assert!(!lookup.insert(tree_with_id("")));
        assert!(!lookup.insert(tree_with_id("not-an-id")));
        assert!(lookup.is_empty());
    }
}
