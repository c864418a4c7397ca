//! NT1, CAT's binary encoding.
//!
//! ```text
//! body        := "NT1" header message
//! header      := ten strings: domain, hostname, ip, threadGroupName, threadId, threadName,
//!                messageId, parentMessageId, rootMessageId, sessionToken
//! message     := transaction | leaf
//! transaction := 't' varint(timestamp ms) str(type) str(name)  message*
//!                'T' str(status) str(data) varint(duration us)
//! leaf        := ('E'|'H'|'M'|'L') varint(timestamp ms) str(type) str(name) str(status) str(data)
//! str         := varint(byte length) UTF-8 bytes            (null and "" are both one 0x00)
//! ```
//!
//! [`decode_body`] is iterative (an explicit stack, bounded by [`MAX_DEPTH`]);
//! [`decode_body_into`] recurses, at most [`MAX_DEPTH`] levels of a few hundred bytes of
//! stack each, well inside a thread's 2 MiB. Both check every length against the bytes left
//! before allocating. See docs/wire-format.md.

use bytes::Bytes;

use crate::error::DecodeError;
use crate::message::{Header, Leaf, Message, MessageKind, MessageTree, Transaction, MAX_DEPTH};
use crate::varint;
use crate::view::{MessageView, TreeView};

/// The body's first three bytes.
pub const MAGIC: &[u8; 3] = b"NT1";

const TAG_START: u8 = b't';
const TAG_END: u8 = b'T';
const TAG_EVENT: u8 = b'E';
const TAG_HEARTBEAT: u8 = b'H';
const TAG_METRIC: u8 = b'M';
const TAG_TRACE: u8 = b'L';

/// Appends `tree` as one whole NT1 frame (length prefix included) to `out`.
pub fn encode(tree: &MessageTree, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(MAGIC);
    for field in tree.header.fields() {
        put_str(out, field);
    }
    encode_message(&tree.root, out);
    let body_len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&body_len.to_be_bytes());
}

/// Encodes `tree` into a new buffer holding one whole frame.
pub fn encode_to_bytes(tree: &MessageTree) -> Bytes {
    let mut out = Vec::with_capacity(256);
    encode(tree, &mut out);
    Bytes::from(out)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    varint::put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_leaf(out: &mut Vec<u8>, tag: u8, leaf: &Leaf) {
    out.push(tag);
    varint::put(out, leaf.timestamp_ms);
    put_str(out, &leaf.type_);
    put_str(out, &leaf.name);
    put_str(out, &leaf.status);
    put_str(out, &leaf.data);
}

fn put_start(out: &mut Vec<u8>, t: &Transaction) {
    out.push(TAG_START);
    varint::put(out, t.timestamp_ms);
    put_str(out, &t.type_);
    put_str(out, &t.name);
}

fn put_end(out: &mut Vec<u8>, t: &Transaction) {
    out.push(TAG_END);
    put_str(out, &t.status);
    put_str(out, &t.data);
    varint::put(out, t.duration_us);
}

/// Encodes one message and its descendants without recursion, so no tree is too deep.
fn encode_message(root: &Message, out: &mut Vec<u8>) {
    // Each open transaction and the index of its next child.
    let mut stack: Vec<(&Transaction, usize)> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(message) = next.take() {
            match message {
                Message::Transaction(t) => {
                    put_start(out, t);
                    stack.push((t, 0));
                }
                Message::Event(l) => put_leaf(out, TAG_EVENT, l),
                Message::Heartbeat(l) => put_leaf(out, TAG_HEARTBEAT, l),
                Message::Metric(l) => put_leaf(out, TAG_METRIC, l),
                Message::Trace(l) => put_leaf(out, TAG_TRACE, l),
            }
        }
        let Some((t, index)) = stack.last_mut() else {
            return;
        };
        if let Some(child) = t.children.get(*index) {
            *index += 1;
            next = Some(child);
        } else {
            put_end(out, t);
            stack.pop();
        }
    }
}

/// A string or field that runs past the end of the body (out of line: the hot paths that
/// can fail this way should not carry its construction).
#[cold]
fn truncated(offset: usize, what: &'static str) -> DecodeError {
    DecodeError::Truncated { offset, what }
}

/// Reads fields from a body, tracking the offset for error messages.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        // Not `ok_or`: that builds the error (and runs its drop glue) for every byte read.
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(DecodeError::Truncated {
                offset: self.pos,
                what,
            }),
        }
    }

    #[inline]
    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        // Most varints are string lengths under 128: one byte, no loop.
        if let Some(&byte) = self.buf.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
        }
        self.long_varint(what)
    }

    #[inline(always)]
    fn long_varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        match varint::read(&self.buf[self.pos.min(self.buf.len())..]) {
            varint::Read::Value(v, len) => {
                self.pos += len;
                Ok(v)
            }
            varint::Read::Truncated => Err(DecodeError::Truncated {
                offset: self.pos,
                what,
            }),
            varint::Read::Overflow => Err(DecodeError::VarintOverflow { offset: self.pos }),
        }
    }

    /// Steps over a varint whose value is not needed, with the errors of [`Reader::varint`]:
    /// with eight bytes at hand, the first byte below 0x80 ends it (a varint of up to eight
    /// bytes cannot overflow), without gathering its bits; otherwise it is read.
    #[inline(always)]
    fn skip_varint(&mut self, what: &'static str) -> Result<(), DecodeError> {
        if let Some(&word) = self.buf[self.pos.min(self.buf.len())..].first_chunk::<8>() {
            let ends = !u64::from_le_bytes(word) & 0x8080_8080_8080_8080;
            if ends != 0 {
                self.pos += (ends.trailing_zeros() / 8 + 1) as usize;
                return Ok(());
            }
        }
        self.varint(what).map(|_| ())
    }

    /// Where the next string's bytes are, and steps over them: [`Reader::string`] without
    /// the copy (what `scan_body` reads strings with).
    ///
    /// Inlined: the scan of every frame on the socket's thread is mostly these calls (about
    /// 60 a tree), and a call cost more than the work.
    #[inline(always)]
    fn string_range(&mut self, what: &'static str) -> Result<std::ops::Range<usize>, DecodeError> {
        let start = self.pos;
        let len = self.varint(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if len > left {
            return Err(truncated(start, what));
        }
        let range = self.pos..self.pos + len as usize;
        self.pos = range.end;
        Ok(range)
    }

    /// [`Reader::string`] into `out`, reusing its allocation.
    fn string_into(&mut self, out: &mut String, what: &'static str) -> Result<(), DecodeError> {
        let range = self.string_range(what)?;
        let bytes = &self.buf[range];
        // Decoding into a reused tree, a type or name often arrives where the same text was
        // before (`URL`, `SQL` at the same place in the next tree): left as it is, it needs
        // neither the UTF-8 check nor a copy. (Not for data: long texts of one length, such
        // as keys with different numbers, would pay for the compare and then the copy.)
        if !crate::short_eq(out.as_bytes(), bytes) {
            text_into(bytes, out);
        }
        Ok(())
    }

    /// A data field into `out` when `keep` says so given its bytes, else `out` is cleared.
    fn data_into(
        &mut self,
        out: &mut String,
        keep: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(), DecodeError> {
        let bytes = &self.buf[self.string_range("data")?];
        if keep(bytes) {
            text_into(bytes, out);
        } else {
            out.clear();
        }
        Ok(())
    }

    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        // The length is checked before allocating: a hostile length costs nothing.
        let bytes = &self.buf[self.string_range(what)?];
        Ok(crate::text::lossy(bytes).into_owned())
    }
}

/// A string's bytes into `out` (its allocation reused) as CAT servers read them: UTF-8,
/// invalid sequences replaced.
fn text_into(bytes: &[u8], out: &mut String) {
    out.clear();
    // Empty strings and one-character ones (a status of "0") are a good part of every
    // tree: neither needs the UTF-8 check nor a copy.
    match *bytes {
        [] => return,
        [byte] if byte.is_ascii() => {
            out.push(char::from(byte));
            return;
        }
        _ => {}
    }
    out.push_str(&crate::text::lossy(bytes));
}

/// Refuses a body that does not start with [`MAGIC`] (a PT1 body names its own magic).
fn check_magic(body: &[u8]) -> Result<(), DecodeError> {
    if body.get(..3) == Some(MAGIC) {
        return Ok(());
    }
    Err(crate::frame::WireFormat::of_body(body)
        .err()
        .unwrap_or(DecodeError::UnknownMagic {
            magic: "PT1".to_owned(),
        }))
}

/// Decodes an NT1 body (the bytes after the length prefix, magic included).
pub fn decode_body(body: &[u8]) -> Result<MessageTree, DecodeError> {
    check_magic(body)?;
    let mut r = Reader::new(body, 3);
    let header = Header {
        domain: r.string("domain")?,
        hostname: r.string("hostname")?,
        ip_address: r.string("ipAddress")?,
        thread_group_name: r.string("threadGroupName")?,
        thread_id: r.string("threadId")?,
        thread_name: r.string("threadName")?,
        message_id: r.string("messageId")?,
        parent_message_id: r.string("parentMessageId")?,
        root_message_id: r.string("rootMessageId")?,
        session_token: r.string("sessionToken")?,
    };
    let root = decode_message(&mut r)?;
    Ok(MessageTree { header, root })
}

/// [`decode_body`] into `tree`, reusing the strings and child lists it already holds: a
/// thread that decodes tree after tree into one scratch tree allocates only when a string
/// or a list outgrows what it had, instead of some sixty times per tree. Messages a smaller
/// tree leaves over wait in a per-thread spare list for the next bigger one. On success `tree`
/// equals what [`decode_body`] returns; on error it is left in an unspecified but valid
/// state and the error is [`decode_body`]'s.
pub fn decode_body_into(body: &[u8], tree: &mut MessageTree) -> Result<(), DecodeError> {
    decode_body_into_keeping(body, tree, Keep::ALL)
}

/// Which data fields a decode keeps: given a message's kind, its type and its data's
/// bytes, whether the caller will read them. See [`Keep`].
pub type KeepData = fn(MessageKind, &str, &[u8]) -> bool;

/// The [`KeepData`] that keeps every data field.
pub fn keep_all_data(_kind: MessageKind, _type: &str, _data: &[u8]) -> bool {
    true
}

/// The header's domain in [`Keep::header`] (fields are bits by wire position).
pub const HEADER_DOMAIN: u16 = 1;
/// The header's client IP in [`Keep::header`].
pub const HEADER_IP_ADDRESS: u16 = 1 << 2;
/// The header's message ID in [`Keep::header`].
pub const HEADER_MESSAGE_ID: u16 = 1 << 6;
/// All ten header fields.
pub const HEADER_ALL: u16 = (1 << 10) - 1;

/// What [`decode_body_into_keeping`] keeps of a tree. Fields it does not keep decode as
/// empty strings, neither checked as UTF-8 nor copied; their lengths are still checked, so
/// the same bytes fail with the same error as [`decode_body`].
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    /// Header fields, one bit each by wire position ([`HEADER_DOMAIN`], ...).
    pub header: u16,
    /// Data fields (SQL text, URLs, stack traces: most of a tree's bytes).
    pub data: KeepData,
}

impl Keep {
    /// Everything: what [`decode_body_into`] keeps.
    pub const ALL: Keep = Keep {
        header: HEADER_ALL,
        data: keep_all_data,
    };
}

/// [`decode_body_into`] for a caller that reads only some fields (see [`Keep`]).
pub fn decode_body_into_keeping(
    body: &[u8],
    tree: &mut MessageTree,
    keep: Keep,
) -> Result<(), DecodeError> {
    let mut spare = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let reused = check_magic(body).and_then(|()| {
        let mut r = Reader::new(body, 3);
        for (i, field) in tree.header.fields_mut().into_iter().enumerate() {
            if keep.header & (1 << i) != 0 {
                r.string_into(field, "header")?;
            } else {
                r.string_range("header")?;
                field.clear();
            }
        }
        message_into(&mut r, &mut tree.root, 0, &mut spare, keep.data)?;
        if r.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData { offset: r.pos })
        }
    });
    spare.truncate(MAX_SPARE_MESSAGES);
    SPARE.with(|s| *s.borrow_mut() = spare);
    // Errors are rare (the collector scans every frame first): let the reference decoder
    // name them, so both functions refuse the same bytes with the same error.
    reused.or_else(|_| decode_body(body).map(|decoded| *tree = decoded))
}

/// Messages a thread keeps, strings and all, for the next trees [`decode_body_into`] fills.
const MAX_SPARE_MESSAGES: usize = 256;

thread_local! {
    /// Messages a smaller tree left over (children past its own, or those of a transaction
    /// whose slot now holds a leaf). A bigger tree takes them back instead of allocating
    /// fresh ones: trees differ in shape, and without these, every difference freed and
    /// allocated messages and their strings (a fifth of the decoder's time).
    static SPARE: std::cell::RefCell<Vec<Message>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes one message into `slot`, reusing its allocations where the kinds match and the
/// strings where they do not; new children come from `spare`, and children left over go
/// there. `open` counts the transactions around it, bounded by [`MAX_DEPTH`] as in
/// [`decode_message`].
fn message_into(
    r: &mut Reader<'_>,
    slot: &mut Message,
    open: usize,
    spare: &mut Vec<Message>,
    keep_data: KeepData,
) -> Result<(), DecodeError> {
    let offset = r.pos;
    let tag = r.byte("tag")?;
    match tag {
        TAG_START => {
            check_depth(open, offset)?;
            if !matches!(slot, Message::Transaction(_)) {
                make_transaction(slot);
            }
            let Message::Transaction(t) = slot else {
                unreachable!("made a transaction above")
            };
            t.timestamp_ms = r.varint("timestamp")?;
            r.string_into(&mut t.type_, "type")?;
            r.string_into(&mut t.name, "name")?;
            let mut n = 0;
            loop {
                match r.buf.get(r.pos) {
                    None => return Err(DecodeError::UnclosedTransaction { open: open + 1 }),
                    Some(&TAG_END) => {
                        r.pos += 1;
                        break;
                    }
                    Some(_) => {}
                }
                if n == t.children.len() {
                    t.children.push(spare.pop().unwrap_or_default());
                }
                message_into(r, &mut t.children[n], open + 1, spare, keep_data)?;
                n += 1;
            }
            if t.children.len() > n {
                spare.extend(t.children.drain(n..));
            }
            r.string_into(&mut t.status, "status")?;
            r.data_into(&mut t.data, |data| {
                keep_data(MessageKind::Transaction, &t.type_, data)
            })?;
            t.duration_us = r.varint("duration")?;
            Ok(())
        }
        TAG_EVENT | TAG_HEARTBEAT | TAG_METRIC | TAG_TRACE => {
            let kind = leaf_message_kind(tag);
            if slot.kind() != kind {
                let leaf = take_leaf(slot, spare);
                *slot = leaf_message(tag, leaf);
            }
            let (Message::Event(leaf)
            | Message::Heartbeat(leaf)
            | Message::Metric(leaf)
            | Message::Trace(leaf)) = slot
            else {
                unreachable!("made a leaf above")
            };
            leaf.timestamp_ms = r.varint("timestamp")?;
            r.string_into(&mut leaf.type_, "type")?;
            r.string_into(&mut leaf.name, "name")?;
            r.string_into(&mut leaf.status, "status")?;
            r.data_into(&mut leaf.data, |data| keep_data(kind, &leaf.type_, data))?;
            Ok(())
        }
        TAG_END => Err(DecodeError::UnbalancedEnd { offset }),
        _ => Err(DecodeError::UnknownTag { tag, offset }),
    }
}

// The two conversions below are functions of their own so that `message_into`, which
// recurses, keeps a small stack frame.

/// Turns the leaf in `slot` into an empty transaction with the leaf's strings: trees differ
/// in shape, and the strings serve the new kind as well.
#[inline(never)]
fn make_transaction(slot: &mut Message) {
    let leaf = match std::mem::take(slot) {
        Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => l,
        Message::Transaction(_) => Leaf::default(),
    };
    *slot = Message::Transaction(Transaction {
        type_: leaf.type_,
        name: leaf.name,
        status: leaf.status,
        data: leaf.data,
        ..Transaction::default()
    });
}

/// Takes the leaf out of `slot`, or makes one of the transaction there (its strings kept,
/// its children handed to `spare`).
#[inline(never)]
fn take_leaf(slot: &mut Message, spare: &mut Vec<Message>) -> Leaf {
    match std::mem::take(slot) {
        Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => l,
        Message::Transaction(mut t) => {
            spare.append(&mut t.children);
            Leaf {
                type_: t.type_,
                name: t.name,
                status: t.status,
                data: t.data,
                ..Leaf::default()
            }
        }
    }
}

/// Refuses a transaction that starts at `offset` inside `open` others past [`MAX_DEPTH`].
fn check_depth(open: usize, offset: usize) -> Result<(), DecodeError> {
    if open >= MAX_DEPTH {
        return Err(DecodeError::TooDeep {
            offset,
            max: MAX_DEPTH,
        });
    }
    Ok(())
}

/// The kind of message a leaf `tag` names.
fn leaf_message_kind(tag: u8) -> MessageKind {
    match tag {
        TAG_EVENT => MessageKind::Event,
        TAG_HEARTBEAT => MessageKind::Heartbeat,
        TAG_METRIC => MessageKind::Metric,
        _ => MessageKind::Trace,
    }
}

/// The message a leaf `tag` names.
fn leaf_message(tag: u8, leaf: Leaf) -> Message {
    match tag {
        TAG_EVENT => Message::Event(leaf),
        TAG_HEARTBEAT => Message::Heartbeat(leaf),
        TAG_METRIC => Message::Metric(leaf),
        _ => Message::Trace(leaf),
    }
}

/// What the collector needs of an NT1 body before it is decoded, found by [`scan_body`].
/// Ranges are byte offsets into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyScan {
    /// The header's domain.
    pub domain: std::ops::Range<usize>,
    /// The header's message ID (empty when the client sent none).
    pub message_id: std::ops::Range<usize>,
    /// The root message's timestamp, epoch milliseconds.
    pub root_timestamp_ms: u64,
    /// How many messages the tree holds (transactions and leaves, the root included):
    /// counted as they are stepped over, so that a collector can refuse a tree too large to
    /// decode without a walk of its own.
    pub messages: usize,
}

/// A message's timestamp in [`scan_body`]: only the first message's (the root's) is kept,
/// every other one is stepped over.
#[inline(always)]
fn read_timestamp(
    r: &mut Reader<'_>,
    root_timestamp_ms: &mut Option<u64>,
) -> Result<(), DecodeError> {
    if root_timestamp_ms.is_none() {
        *root_timestamp_ms = Some(r.varint("timestamp")?);
        Ok(())
    } else {
        r.skip_varint("timestamp")
    }
}

/// Checks an NT1 body exactly as [`decode_body`] does, and gives the same error for the
/// same bytes, without building the tree: it allocates nothing and copies no string. So a
/// collector can refuse a bad frame on its socket's thread and leave decoding to the
/// thread that analyses the tree (decoded and freed where it is used).
pub fn scan_body(body: &[u8]) -> Result<BodyScan, DecodeError> {
    check_magic(body)?;
    let mut r = Reader::new(body, 3);
    let domain = r.string_range("domain")?;
    for what in [
        "hostname",
        "ipAddress",
        "threadGroupName",
        "threadId",
        "threadName",
    ] {
        r.string_range(what)?;
    }
    let message_id = r.string_range("messageId")?;
    for what in ["parentMessageId", "rootMessageId", "sessionToken"] {
        r.string_range(what)?;
    }
    let mut root_timestamp_ms = None;
    let mut depth = 0usize;
    let mut messages = 0usize;
    loop {
        if r.is_empty() {
            return Err(if depth == 0 {
                DecodeError::Empty
            } else {
                DecodeError::UnclosedTransaction { open: depth }
            });
        }
        let offset = r.pos;
        let tag = r.byte("tag")?;
        match tag {
            TAG_START => {
                check_depth(depth, offset)?;
                read_timestamp(&mut r, &mut root_timestamp_ms)?;
                r.string_range("type")?;
                r.string_range("name")?;
                depth += 1;
                messages += 1;
                continue;
            }
            TAG_END => {
                if depth == 0 {
                    return Err(DecodeError::UnbalancedEnd { offset });
                }
                depth -= 1;
                r.string_range("status")?;
                r.string_range("data")?;
                r.skip_varint("duration")?;
            }
            TAG_EVENT | TAG_HEARTBEAT | TAG_METRIC | TAG_TRACE => {
                read_timestamp(&mut r, &mut root_timestamp_ms)?;
                for what in ["type", "name", "status", "data"] {
                    r.string_range(what)?;
                }
                messages += 1;
            }
            _ => return Err(DecodeError::UnknownTag { tag, offset }),
        }
        if depth == 0 {
            if !r.is_empty() {
                return Err(DecodeError::TrailingData { offset: r.pos });
            }
            return Ok(BodyScan {
                domain,
                message_id,
                root_timestamp_ms: root_timestamp_ms.unwrap_or_default(),
                messages,
            });
        }
    }
}

/// Why [`decode_view`] could not give a view of a body: it is not valid NT1, or a text the
/// view keeps is not UTF-8 (a [`MessageTree`] holds such text with the invalid sequences
/// replaced, which a view of the frame's own bytes cannot). Either way, decode the body
/// into a [`MessageTree`] ([`decode_body_into_keeping`]: it names the error, or replaces
/// the sequences) and take [`TreeView::fill`] of that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotViewable;

/// Every one-byte ASCII text, by its byte: a one-byte text is this table's entry, with no
/// check at all (a status of `"0"` ends nearly every message). Built at compile time from
/// one string of all 128 characters.
const ONE_BYTE_TEXTS: [&str; 128] = {
    const ASCII: &str = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !\x22#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\x5c]^_`abcdefghijklmnopqrstuvwxyz{|}~\x7f";
    let mut table = [""; 128];
    let mut i = 0;
    while i < 128 {
        let (_, rest) = ASCII.as_bytes().split_at(i);
        let (one, _) = rest.split_at(1);
        table[i] = match std::str::from_utf8(one) {
            Ok(text) => text,
            Err(_) => panic!("ASCII is UTF-8"),
        };
        i += 1;
    }
    table
};

/// The next text of the body as `&str`, borrowed; [`NotViewable`] if it is not UTF-8 (or
/// runs past the body).
#[inline(always)]
fn view_text<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a str, NotViewable> {
    let buf = r.buf;
    let range = r.string_range(what).map_err(|_| NotViewable)?;
    let bytes = &buf[range];
    match *bytes {
        [] => Ok(""),
        [byte] if byte.is_ascii() => Ok(ONE_BYTE_TEXTS[usize::from(byte)]),
        _ => crate::text::utf8(bytes).ok_or(NotViewable),
    }
}

/// `N` adjacent texts of the body (a message's type, name and status follow each other),
/// checked in one pass when all of them and their length bytes are ASCII (nearly always:
/// one check instead of `N`), else each on its own.
#[inline(always)]
fn view_texts<'a, const N: usize>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<[&'a str; N], NotViewable> {
    let buf = r.buf;
    let start = r.pos;
    let mut ranges = [(0, 0); N];
    for range in &mut ranges {
        let found = r.string_range(what).map_err(|_| NotViewable)?;
        *range = (found.start, found.end);
    }
    let mut texts = [""; N];
    if let Ok(span) = ascii::AsciiStr::from_ascii(&buf[start..r.pos]) {
        // A length of 128 or more has a byte above 127, so here every length is one byte
        // and every text a slice of the checked span (sliced as ASCII: no char-boundary
        // checks).
        for (text, &(from, to)) in texts.iter_mut().zip(&ranges) {
            *text = span[from - start..to - start].as_str();
        }
        return Ok(texts);
    }
    for (text, &(from, to)) in texts.iter_mut().zip(&ranges) {
        *text = crate::text::utf8(&buf[from..to]).ok_or(NotViewable)?;
    }
    Ok(texts)
}

/// Decodes an NT1 body into `view` (emptied first): the three header fields the reports
/// read (the others are skipped), and every message with its strings borrowed from `body`
/// (no copy, no allocation once `view`'s list has grown). Data fields `keep` does not keep
/// are empty, as [`decode_body_into_keeping`] leaves them with [`Keep::data`] set to `keep`.
///
/// `keep` is generic so that a function item (such as the analyzers' `reads_data`) is
/// called directly and inlined, not through a pointer once per message; a [`KeepData`]
/// pointer works too.
///
/// On success, `view` equals [`TreeView::of`] the tree that decode gives (tested, and
/// asserted by the fuzz target). On [`NotViewable`], `view` holds part of the tree.
pub fn decode_view<'a>(
    body: &'a [u8],
    keep: impl Fn(MessageKind, &str, &[u8]) -> bool,
    view: &mut TreeView<'a>,
) -> Result<(), NotViewable> {
    view.messages.clear();
    view.open.clear();
    check_magic(body).map_err(|_| NotViewable)?;
    let mut r = Reader::new(body, 3);
    view.domain = view_text(&mut r, "domain")?;
    r.string_range("hostname").map_err(|_| NotViewable)?;
    view.ip_address = view_text(&mut r, "ipAddress")?;
    for what in ["threadGroupName", "threadId", "threadName"] {
        r.string_range(what).map_err(|_| NotViewable)?;
    }
    view.message_id = view_text(&mut r, "messageId")?;
    for what in ["parentMessageId", "rootMessageId", "sessionToken"] {
        r.string_range(what).map_err(|_| NotViewable)?;
    }
    loop {
        let depth = view.open.len();
        let tag = r.byte("tag").map_err(|_| NotViewable)?;
        match tag {
            TAG_START => {
                if depth >= MAX_DEPTH {
                    return Err(NotViewable);
                }
                let timestamp_ms = r.varint("timestamp").map_err(|_| NotViewable)?;
                let [type_, name] = view_texts(&mut r, "type and name")?;
                view.open.push(view.messages.len() as u32);
                view.messages.push(MessageView {
                    kind: MessageKind::Transaction,
                    depth: depth as u32,
                    timestamp_ms,
                    duration_us: 0,
                    type_,
                    name,
                    status: "",
                    data: "",
                });
                continue;
            }
            TAG_END => {
                let Some(index) = view.open.pop() else {
                    return Err(NotViewable);
                };
                let status = view_text(&mut r, "status")?;
                let buf = r.buf;
                let data = &buf[r.string_range("data").map_err(|_| NotViewable)?];
                let duration_us = r.varint("duration").map_err(|_| NotViewable)?;
                let t = &mut view.messages[index as usize];
                t.status = status;
                t.duration_us = duration_us;
                if keep(MessageKind::Transaction, t.type_, data) {
                    t.data = crate::text::utf8(data).ok_or(NotViewable)?;
                }
            }
            TAG_EVENT | TAG_HEARTBEAT | TAG_METRIC | TAG_TRACE => {
                let kind = leaf_message_kind(tag);
                let timestamp_ms = r.varint("timestamp").map_err(|_| NotViewable)?;
                let [type_, name, status] = view_texts(&mut r, "type, name and status")?;
                let buf = r.buf;
                let data = &buf[r.string_range("data").map_err(|_| NotViewable)?];
                let data = if keep(kind, type_, data) {
                    crate::text::utf8(data).ok_or(NotViewable)?
                } else {
                    ""
                };
                view.messages.push(MessageView {
                    kind,
                    depth: depth as u32,
                    timestamp_ms,
                    duration_us: 0,
                    type_,
                    name,
                    status,
                    data,
                });
            }
            _ => return Err(NotViewable),
        }
        if view.open.is_empty() {
            return if r.is_empty() {
                Ok(())
            } else {
                Err(NotViewable)
            };
        }
    }
}

fn decode_message(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    // Open transactions, each with where its children start in `children`: the children
    // of all open transactions share one buffer and move into an exactly sized `Vec` when
    // their parent ends, instead of each `Vec` growing (and reallocating) child by child.
    let mut stack: Vec<(Transaction, usize)> = Vec::new();
    let mut children: Vec<Message> = Vec::new();
    loop {
        if r.is_empty() {
            return Err(if stack.is_empty() {
                DecodeError::Empty
            } else {
                DecodeError::UnclosedTransaction { open: stack.len() }
            });
        }
        let offset = r.pos;
        let tag = r.byte("tag")?;
        let finished = match tag {
            TAG_START => {
                check_depth(stack.len(), offset)?;
                let timestamp_ms = r.varint("timestamp")?;
                let type_ = r.string("type")?;
                let name = r.string("name")?;
                stack.push((
                    Transaction {
                        type_,
                        name,
                        timestamp_ms,
                        ..Transaction::default()
                    },
                    children.len(),
                ));
                None
            }
            TAG_END => {
                let (mut t, first_child) =
                    stack.pop().ok_or(DecodeError::UnbalancedEnd { offset })?;
                t.children = children.drain(first_child..).collect();
                t.status = r.string("status")?;
                t.data = r.string("data")?;
                t.duration_us = r.varint("duration")?;
                Some(Message::Transaction(t))
            }
            TAG_EVENT | TAG_HEARTBEAT | TAG_METRIC | TAG_TRACE => {
                let leaf = Leaf {
                    timestamp_ms: r.varint("timestamp")?,
                    type_: r.string("type")?,
                    name: r.string("name")?,
                    status: r.string("status")?,
                    data: r.string("data")?,
                };
                Some(leaf_message(tag, leaf))
            }
            _ => return Err(DecodeError::UnknownTag { tag, offset }),
        };
        if let Some(message) = finished {
            match stack.last() {
                Some(_) => children.push(message),
                None => {
                    if !r.is_empty() {
                        return Err(DecodeError::TrailingData { offset: r.pos });
                    }
                    return Ok(message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_byte_table_holds_each_character_at_its_code() {
        for (code, text) in ONE_BYTE_TEXTS.iter().enumerate() {
            assert_eq!(text.as_bytes(), [code as u8]);
        }
    }

    #[test]
    fn adjacent_texts_are_viewed_together_or_one_by_one_alike() {
        // ASCII, a long name (two-byte length), and UTF-8 beyond ASCII.
        let long = "n".repeat(300);
        for (type_, name, status) in [
            ("URL", "/a", "0"),
            ("SQL", long.as_str(), "ERROR"),
            ("Cache.get", "caf\u{e9}", "0"),
            ("", "", ""),
        ] {
            let tree = MessageTree::new(
                Header::default(),
                Message::Event(Leaf::new(type_, name, status, 1, "")),
            );
            let body = &encode_to_bytes(&tree)[4..];
            let mut view = TreeView::default();
            decode_view(body, keep_all_data, &mut view).unwrap();
            let m = view.messages[0];
            assert_eq!((m.type_, m.name, m.status), (type_, name, status));
        }
    }
}
