//! Where LogView gets its trees: the [`MessageLookup`] trait, implemented over the store by
//! the binary and by [`MemoryLookup`] for tests, demos and the browser fixture.

use std::collections::HashMap;
use std::sync::RwLock;

use ocelot_protocol::{MessageId, MessageTree, WireFormat};

use crate::error::{ApiError, PageError};

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
    /// lookup itself failed, such as the store's error naming the damaged file and block.
    /// It is logged, and LogView and the API show it (a 500) with the paths in it cut to
    /// their last three parts (hour, domain, file), which say where without showing the
    /// server's folders.
    fn lookup(&self, id: &MessageId) -> Result<Option<StoredTree>, String>;
}

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupFailed {
    /// [`MessageLookup::lookup`] failed: the store's error, said to the user.
    Store(String),
    /// The task running it failed (a panic): logged, the user sees a generic message.
    Task(String),
}

impl LookupFailed {
    /// LogView's answer for the ID `raw`.
    pub(crate) fn page(self, raw: String) -> PageError {
        match self {
            LookupFailed::Store(detail) => PageError::Unreadable {
                title: "This tree cannot be read".to_owned(),
                detail: lookup_failure(&raw, &detail),
                search: raw,
            },
            LookupFailed::Task(detail) => PageError::Internal(detail),
        }
    }

    /// `/api/message/{id}`'s answer for the ID `raw`.
    pub(crate) fn api(self, raw: &str) -> ApiError {
        match self {
            LookupFailed::Store(detail) => ApiError::UnreadableTree(lookup_failure(raw, &detail)),
            LookupFailed::Task(detail) => ApiError::Internal(detail),
        }
    }
}

/// What LogView and `/api/message/{id}` say when the lookup of `id` failed with `detail`
/// ([`MessageLookup::lookup`]'s error): a damaged store said as such, where "something went
/// wrong" sent people looking for a bug.
pub(crate) fn lookup_failure(id: &str, detail: &str) -> String {
    format!(
        "The stored tree {id} cannot be read: the store's files holding it are damaged or \
         missing (see the server's log): {}.",
        short_paths(detail).trim_end_matches('.')
    )
}

/// `text` with each absolute path in it (a word starting with `/`) cut to its last three
/// parts: `…/499073/app-1/messages.dat`.
fn short_paths(text: &str) -> String {
    const KEPT_PARTS: usize = 3;
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let parts: Vec<&str> = word.split('/').collect();
        // "/a/b/c/d" splits into "", "a", "b", "c", "d".
        if word.starts_with('/') && parts.len() > KEPT_PARTS + 1 {
            out.push('…');
            for part in &parts[parts.len() - KEPT_PARTS..] {
                out.push('/');
                out.push_str(part);
            }
        } else {
            out.push_str(word);
        }
    }
    out
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
    fn a_failed_lookup_names_the_damage_without_the_servers_folders() {
        let detail = "corrupt block at address 8 of /srv/ocelot/data/499073/app-1/messages.dat: \
                      block inflates to 1678 bytes, header says 65395";
        assert_eq!(
            lookup_failure("app-1-0a000001-499073-5", detail),
            "The stored tree app-1-0a000001-499073-5 cannot be read: the store's files holding \
             it are damaged or missing (see the server's log): corrupt block at address 8 of \
             …/499073/app-1/messages.dat: block inflates to 1678 bytes, header says 65395."
        );
        assert_eq!(
            short_paths("the store has been shut down"),
            "the store has been shut down"
        );
        assert_eq!(short_paths("/a/b/c"), "/a/b/c", "short paths stay");
    }

    #[test]
    fn memory_lookup_skips_trees_without_a_valid_id() {
        let lookup = MemoryLookup::new();
        assert!(!lookup.insert(tree_with_id("")));
        assert!(!lookup.insert(tree_with_id("not-an-id")));
        assert!(lookup.is_empty());
    }
}
