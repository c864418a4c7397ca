//! The message model: what one frame carries.
//!
//! A [`MessageTree`] is a ten-field [`Header`] plus one root [`Message`]. Only transactions
//! nest; events, heartbeats, metrics and traces are [`Leaf`]s. Strings are arbitrary UTF-8
//! (clients send unicode and emoji in types and names).

/// The status string that means success. Every other string, the empty one included, is a
/// failure.
pub const SUCCESS: &str = "0";

/// How deep transactions may nest in a decoded frame. Real clients cut trees at 2000
/// messages; the bound keeps decoding, encoding and dropping a hostile frame (a million
/// nested `t` records) off the stack's edge.
pub const MAX_DEPTH: usize = 512;

/// The ten header strings, in wire order.
///
/// Fields are kept exactly as on the wire: NT1 writes absent values as empty strings, PT1
/// as the word `null`. Use [`Header::parent_id`] and friends to read them with either
/// spelling treated as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// The application (CAT "domain").
    pub domain: String,
    /// The sending host's name.
    pub hostname: String,
    /// The sending host's dotted IPv4 address.
    pub ip_address: String,
    /// Thread group name (`cat` from the C client).
    pub thread_group_name: String,
    /// Thread id, as a decimal string.
    pub thread_id: String,
    /// Thread name.
    pub thread_name: String,
    /// This tree's message ID.
    pub message_id: String,
    /// The calling tree's message ID, for RPC callees and continuation trees.
    pub parent_message_id: String,
    /// The first tree of the whole call chain.
    pub root_message_id: String,
    /// Carried, never analysed.
    pub session_token: String,
}

/// `s` unless it is empty or `null` (how CAT clients leave an ID unset).
pub(crate) fn present(s: &str) -> Option<&str> {
    (!s.is_empty() && s != "null").then_some(s)
}

impl Header {
    /// The ten fields in wire order (domain first, session token last), as both codecs
    /// write them.
    pub fn fields(&self) -> [&str; 10] {
        [
            &self.domain,
            &self.hostname,
            &self.ip_address,
            &self.thread_group_name,
            &self.thread_id,
            &self.thread_name,
            &self.message_id,
            &self.parent_message_id,
            &self.root_message_id,
            &self.session_token,
        ]
    }

    /// The ten fields in wire order, to decode into.
    pub(crate) fn fields_mut(&mut self) -> [&mut String; 10] {
        [
            &mut self.domain,
            &mut self.hostname,
            &mut self.ip_address,
            &mut self.thread_group_name,
            &mut self.thread_id,
            &mut self.thread_name,
            &mut self.message_id,
            &mut self.parent_message_id,
            &mut self.root_message_id,
            &mut self.session_token,
        ]
    }

    /// This tree's message ID, if set.
    pub fn message_id(&self) -> Option<&str> {
        present(&self.message_id)
    }
    /// The parent message ID, if set (empty and `null` mean absent).
    pub fn parent_id(&self) -> Option<&str> {
        present(&self.parent_message_id)
    }
    /// The root message ID, if set (empty and `null` mean absent).
    pub fn root_id(&self) -> Option<&str> {
        present(&self.root_message_id)
    }
    /// The session token, if set (empty and `null` mean absent).
    pub fn session_token(&self) -> Option<&str> {
        present(&self.session_token)
    }
}

/// What kind of message a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Timed, may have children: NT1 `t`/`T`.
    Transaction,
    /// A point in time: NT1 `E`.
    Event,
    /// Machine status, data is `<status>` XML: NT1 `H`.
    Heartbeat,
    /// A business metric, the status says which kind: NT1 `M`.
    Metric,
    /// A log-like line: NT1 `L`.
    Trace,
}

impl MessageKind {
    /// The lower-case name used in JSON (`transaction`, `event`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Transaction => "transaction",
            MessageKind::Event => "event",
            MessageKind::Heartbeat => "heartbeat",
            MessageKind::Metric => "metric",
            MessageKind::Trace => "trace",
        }
    }
}

/// A timed message that may contain others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Transaction {
    /// Category, such as `URL`, `SQL`, `Cache.redis`.
    pub type_: String,
    /// What inside the category, such as `/api/order`.
    pub name: String,
    /// `"0"` for success, anything else is a failure.
    pub status: String,
    /// Start, epoch milliseconds.
    pub timestamp_ms: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// Free text, usually `k=v&k=v`; `@...` is client-side batch data.
    pub data: String,
    /// Nested messages in the order they were logged.
    pub children: Vec<Message>,
}

impl Transaction {
    /// A successful transaction with no data, duration or children.
    pub fn new(type_: impl Into<String>, name: impl Into<String>, timestamp_ms: u64) -> Self {
        Transaction {
            type_: type_.into(),
            name: name.into(),
            status: SUCCESS.to_owned(),
            timestamp_ms,
            ..Transaction::default()
        }
    }

    /// Whether the status is `"0"`.
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

/// A message without duration or children: an event, heartbeat, metric or trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Leaf {
    /// Category.
    pub type_: String,
    /// What inside the category.
    pub name: String,
    /// `"0"` for success; for metrics the kind (`C`, `T`, `S`, `S,C`).
    pub status: String,
    /// When, epoch milliseconds.
    pub timestamp_ms: u64,
    /// Free text.
    pub data: String,
}

impl Leaf {
    /// A leaf with the given fields.
    pub fn new(
        type_: impl Into<String>,
        name: impl Into<String>,
        status: impl Into<String>,
        timestamp_ms: u64,
        data: impl Into<String>,
    ) -> Self {
        Leaf {
            type_: type_.into(),
            name: name.into(),
            status: status.into(),
            timestamp_ms,
            data: data.into(),
        }
    }

    /// Whether the status is `"0"`.
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

/// One node of a tree (by default an empty event).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    /// A transaction, the only kind with children.
    Transaction(Transaction),
    /// An event (`E`).
    Event(Leaf),
    /// A heartbeat (`H`).
    Heartbeat(Leaf),
    /// A business metric (`M`).
    Metric(Leaf),
    /// A trace line (`L`).
    Trace(Leaf),
}

impl Default for Message {
    fn default() -> Self {
        Message::Event(Leaf::default())
    }
}

impl Message {
    /// The node's kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Transaction(_) => MessageKind::Transaction,
            Message::Event(_) => MessageKind::Event,
            Message::Heartbeat(_) => MessageKind::Heartbeat,
            Message::Metric(_) => MessageKind::Metric,
            Message::Trace(_) => MessageKind::Trace,
        }
    }

    /// The leaf fields, unless this is a transaction.
    pub fn as_leaf(&self) -> Option<&Leaf> {
        match self {
            Message::Transaction(_) => None,
            Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => {
                Some(l)
            }
        }
    }

    /// The transaction, if this is one.
    pub fn as_transaction(&self) -> Option<&Transaction> {
        match self {
            Message::Transaction(t) => Some(t),
            _ => None,
        }
    }

    /// The type string.
    pub fn type_(&self) -> &str {
        match self {
            Message::Transaction(t) => &t.type_,
            _ => &self.as_leaf().expect("not a transaction").type_,
        }
    }

    /// The name string.
    pub fn name(&self) -> &str {
        match self {
            Message::Transaction(t) => &t.name,
            _ => &self.as_leaf().expect("not a transaction").name,
        }
    }

    /// The status string.
    pub fn status(&self) -> &str {
        match self {
            Message::Transaction(t) => &t.status,
            _ => &self.as_leaf().expect("not a transaction").status,
        }
    }

    /// The data string.
    pub fn data(&self) -> &str {
        match self {
            Message::Transaction(t) => &t.data,
            _ => &self.as_leaf().expect("not a transaction").data,
        }
    }

    /// The timestamp in epoch milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        match self {
            Message::Transaction(t) => t.timestamp_ms,
            _ => self.as_leaf().expect("not a transaction").timestamp_ms,
        }
    }

    /// The children (empty for leaves).
    pub fn children(&self) -> &[Message] {
        match self {
            Message::Transaction(t) => &t.children,
            _ => &[],
        }
    }

    /// Whether the status is `"0"`.
    pub fn is_success(&self) -> bool {
        self.status() == SUCCESS
    }

    /// Calls `visit` on this node and every descendant, depth first in wire order, with
    /// each node's depth (0 for `self`). Iterative, so any depth is safe.
    pub fn walk<'a>(&'a self, mut visit: impl FnMut(&'a Message, usize)) {
        let mut stack: Vec<(&'a Message, usize)> = vec![(self, 0)];
        while let Some((message, depth)) = stack.pop() {
            visit(message, depth);
            for child in message.children().iter().rev() {
                stack.push((child, depth + 1));
            }
        }
    }
}

/// One frame's content: the header and the root message. The default, an empty header and
/// an empty event, is what a scratch tree for [`crate::nt1::decode_body_into`] starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MessageTree {
    /// The ten header strings.
    pub header: Header,
    /// The root: a transaction, or a lone event, heartbeat, metric or trace.
    pub root: Message,
}

impl MessageTree {
    /// A tree from its parts.
    pub fn new(header: Header, root: Message) -> Self {
        MessageTree { header, root }
    }

    /// How many messages the tree holds, root included.
    pub fn message_count(&self) -> usize {
        let mut n = 0;
        self.root.walk(|_, _| n += 1);
        n
    }
}

/// Settings for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// PT1 timestamps are wall-clock strings without a zone; this is the zone's offset from
    /// UTC in seconds. CAT servers assume +08:00, and so do we by default.
    pub pt1_utc_offset_seconds: i32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            pt1_utc_offset_seconds: 8 * 3600,
        }
    }
}
