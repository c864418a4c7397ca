//! The flat form of a tree while a thread builds it, and its conversion to the protocol model.
//!
//! A thread appends [`Record`]s in pre-order; a transaction's `end` is one past the index of its
//! last descendant. Names are `Cow<'static, str>`, so static names cost no allocation; the
//! conversion to [`ocelot_protocol::MessageTree`] (which owns `String`s) happens on the sender
//! thread, off the caller's path.

use std::borrow::Cow;
use std::sync::Arc;

#[cfg(test)]
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};

/// A type, name or status: static strings are free, formatted ones are owned.
pub(crate) type Text = Cow<'static, str>;

/// Which protocol message a record becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Transaction,
    Event,
    Heartbeat,
    Metric,
}

/// One message in pre-order.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) kind: Kind,
    pub(crate) type_: Text,
    pub(crate) name: Text,
    pub(crate) status: Text,
    pub(crate) data: String,
    pub(crate) timestamp_us: u64,
    pub(crate) duration_us: u64,
    /// Transactions only: one past the index of the last descendant.
    pub(crate) end: usize,
}

/// Bytes a record costs in the queue's byte bound: its strings plus a fixed overhead for the
/// struct and varints. An estimate, deliberately on the high side of the NT1 size.
const RECORD_OVERHEAD_BYTES: usize = 32;

impl Record {
    pub(crate) fn new(
        kind: Kind,
        type_: Text,
        name: Text,
        status: Text,
        timestamp_us: u64,
    ) -> Self {
        Record {
            kind,
            type_,
            name,
            status,
            data: String::new(),
            timestamp_us,
            duration_us: 0,
            end: 0,
        }
    }

    pub(crate) fn estimated_bytes(&self) -> usize {
        self.type_.len()
            + self.name.len()
            + self.status.len()
            + self.data.len()
            + RECORD_OVERHEAD_BYTES
    }
}

/// Header fields a finished tree carries to the sender thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeIds {
    /// Empty when `own_id` is set.
    pub(crate) message_id: String,
    /// `(hour, seq)` of an ID of the client's own domain, formatted by the sender thread.
    pub(crate) own_id: Option<(u64, u64)>,
    pub(crate) parent_id: String,
    pub(crate) root_id: String,
}

/// A finished tree on its way to the sender thread.
#[derive(Debug)]
pub(crate) struct FinishedTree {
    pub(crate) records: Vec<Record>,
    pub(crate) ids: TreeIds,
    pub(crate) thread_id: u64,
    pub(crate) thread_name: Arc<str>,
    /// What this tree counts against the queue's byte bound.
    pub(crate) estimated_bytes: usize,
}

/// Header strings that are the same for every tree of one client.
#[derive(Debug, Clone)]
pub(crate) struct HeaderTemplate {
    pub(crate) domain: String,
    pub(crate) ip: u32,
    /// The pid the domain's IDs carry after the IP (several instances on one host).
    pub(crate) pid: Option<u32>,
    pub(crate) hostname: String,
    pub(crate) ip_address: String,
}

#[cfg(test)]
impl HeaderTemplate {
    /// Domain `d` on 127.0.0.1, host `h`: the template the unit tests encode with.
    pub(crate) fn for_tests() -> HeaderTemplate {
        HeaderTemplate {
            domain: "d".into(),
            ip: 0x7f00_0001,
            pid: None,
            hostname: "h".into(),
            ip_address: "127.0.0.1".into(),
        }
    }
}

impl HeaderTemplate {
    /// Writes the ID `(hour, seq)` of this client's domain: `domain-hexip[.pid]-hour-seq`.
    pub(crate) fn write_id(&self, out: &mut String, hour: u64, seq: u64) -> std::fmt::Result {
        use std::fmt::Write as _;
        write!(out, "{}-{:08x}", self.domain, self.ip)?;
        if let Some(pid) = self.pid {
            write!(out, ".{pid}")?;
        }
        write!(out, "-{hour}-{seq}")
    }
}

#[cfg(test)]
impl FinishedTree {
    /// The protocol tree, or `None` for an empty record list (never produced by the builder).
    pub(crate) fn into_message_tree(self, template: &HeaderTemplate) -> Option<MessageTree> {
        let header = Header {
            domain: template.domain.clone(),
            hostname: template.hostname.clone(),
            ip_address: template.ip_address.clone(),
            thread_group_name: THREAD_GROUP_NAME.to_owned(),
            thread_id: self.thread_id.to_string(),
            thread_name: self.thread_name.to_string(),
            message_id: match self.ids.own_id {
                Some((hour, seq)) => {
                    let mut id = String::new();
                    let _ = template.write_id(&mut id, hour, seq);
                    id
                }
                None => self.ids.message_id,
            },
            parent_message_id: self.ids.parent_id,
            root_message_id: self.ids.root_id,
            session_token: String::new(),
        };
        let mut records = self.records.into_iter();
        let first = records.next()?;
        let root = build(first, &mut records, &mut 1);
        Some(MessageTree::new(header, root))
    }
}

/// Reusable buffers for [`FinishedTree::encode_nt1`], owned by the sender thread.
#[derive(Debug, Default)]
pub(crate) struct EncodeScratch {
    open: Vec<usize>,
    text: String,
}

impl FinishedTree {
    /// Appends the tree as one whole NT1 frame (length prefix included) to `out`: the same
    /// bytes as `ocelot_protocol::nt1::encode(&self.into_message_tree(..))` (a test checks
    /// this), without building the owned model first. The sender thread runs this for every
    /// tree, so it allocates nothing once `out` and `scratch` have grown.
    pub(crate) fn encode_nt1(
        &self,
        template: &HeaderTemplate,
        scratch: &mut EncodeScratch,
        out: &mut Vec<u8>,
    ) {
        use std::fmt::Write as _;
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(ocelot_protocol::nt1::MAGIC);
        put_str(out, &template.domain);
        put_str(out, &template.hostname);
        put_str(out, &template.ip_address);
        put_str(out, THREAD_GROUP_NAME);
        scratch.text.clear();
        let _ = write!(scratch.text, "{}", self.thread_id);
        put_str(out, &scratch.text);
        put_str(out, &self.thread_name);
        match self.ids.own_id {
            Some((hour, seq)) => {
                scratch.text.clear();
                let _ = template.write_id(&mut scratch.text, hour, seq);
                put_str(out, &scratch.text);
            }
            None => put_str(out, &self.ids.message_id),
        }
        put_str(out, &self.ids.parent_id);
        put_str(out, &self.ids.root_id);
        put_str(out, "");
        scratch.open.clear();
        for (index, record) in self.records.iter().enumerate() {
            close_ended(&self.records, &mut scratch.open, index, out);
            match record.kind {
                Kind::Transaction => {
                    out.push(b't');
                    put_varint(out, record.timestamp_us / 1000);
                    put_str(out, &record.type_);
                    put_str(out, &record.name);
                    scratch.open.push(index);
                }
                Kind::Event | Kind::Heartbeat | Kind::Metric => {
                    out.push(match record.kind {
                        Kind::Event => b'E',
                        Kind::Heartbeat => b'H',
                        _ => b'M',
                    });
                    put_varint(out, record.timestamp_us / 1000);
                    put_str(out, &record.type_);
                    put_str(out, &record.name);
                    put_str(out, &record.status);
                    put_str(out, &record.data);
                }
            }
        }
        close_ended(&self.records, &mut scratch.open, usize::MAX, out);
        let body_len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
        out[start..start + 4].copy_from_slice(&body_len.to_be_bytes());
    }
}

/// Writes the `T` records of open transactions that end before `index`.
fn close_ended(records: &[Record], open: &mut Vec<usize>, index: usize, out: &mut Vec<u8>) {
    while let Some(&top) = open.last() {
        let t = &records[top];
        if t.end > index {
            return;
        }
        out.push(b'T');
        put_str(out, &t.status);
        put_str(out, &t.data);
        put_varint(out, t.duration_us);
        open.pop();
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// CAT's C client writes `cat`; we say who we are.
const THREAD_GROUP_NAME: &str = "ocelot";

#[cfg(test)]
fn to_leaf(r: Record) -> Leaf {
    Leaf {
        type_: r.type_.into_owned(),
        name: r.name.into_owned(),
        status: r.status.into_owned(),
        timestamp_ms: r.timestamp_us / 1000,
        data: r.data,
    }
}

#[cfg(test)]
/// Builds the message for `first`, consuming its descendants from `rest`; `next_index` is the
/// index of `rest`'s next record. Recursion depth is bounded by the builder's nesting limit.
fn build(first: Record, rest: &mut std::vec::IntoIter<Record>, next_index: &mut usize) -> Message {
    match first.kind {
        Kind::Event => Message::Event(to_leaf(first)),
        Kind::Heartbeat => Message::Heartbeat(to_leaf(first)),
        Kind::Metric => Message::Metric(to_leaf(first)),
        Kind::Transaction => {
            let end = first.end;
            let mut children = Vec::new();
            while *next_index < end {
                let Some(child) = rest.next() else { break };
                *next_index += 1;
                children.push(build(child, rest, next_index));
            }
            Message::Transaction(Transaction {
                type_: first.type_.into_owned(),
                name: first.name.into_owned(),
                status: first.status.into_owned(),
                timestamp_ms: first.timestamp_us / 1000,
                duration_us: first.duration_us,
                data: first.data,
                children,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_order_records_become_nested_messages_and_encode_like_the_protocol_crate() {
        let mut root = Record::new(
            Kind::Transaction,
            "URL".into(),
            "/a".into(),
            "0".into(),
            5_000,
        );
        root.end = 4;
        let mut sql = Record::new(
            Kind::Transaction,
            "SQL".into(),
            "q".into(),
            "0".into(),
            6_000,
        );
        sql.end = 3;
        let inner = Record::new(Kind::Event, "E".into(), "in".into(), "0".into(), 7_000);
        let after = Record::new(Kind::Event, "E".into(), "after".into(), "0".into(), 8_000);
        let tree = FinishedTree {
            records: vec![root, sql, inner, after],
            ids: TreeIds {
                own_id: Some((498_703, 7)),
                parent_id: "p-7f000001-498703-1".into(),
                ..TreeIds::default()
            },
            thread_id: 1,
            thread_name: Arc::from("main"),
            estimated_bytes: 0,
        };
        let template = HeaderTemplate::for_tests();
        let mut direct = Vec::new();
        tree.encode_nt1(&template, &mut EncodeScratch::default(), &mut direct);
        let tree = tree.into_message_tree(&template).unwrap();
        let mut via_model = Vec::new();
        ocelot_protocol::nt1::encode(&tree, &mut via_model);
        assert_eq!(
            direct, via_model,
            "direct NT1 encoding differs from the protocol crate's"
        );
        let root = tree.root.as_transaction().unwrap();
        assert_eq!(root.timestamp_ms, 5);
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.children[0].children().len(), 1);
        assert_eq!(root.children[0].children()[0].name(), "in");
        assert_eq!(root.children[1].name(), "after");
    }
}
