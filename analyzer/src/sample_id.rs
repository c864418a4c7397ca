//! [`SampleId`]: a message ID as a report keeps it (a name's sample, slowest and failed
//! trees, a problem's samples), in 24 bytes and without an allocation of its own.
//!
//! Reports hold many of these: on a busy hour about ten per (machine, type, name), the
//! biggest part of a report's memory when kept as `String`s (24 bytes plus a heap block of
//! 32 or more). A CAT ID is `domain-hexip-hour-seq`; kept as its numbers plus the domain's
//! text, shared by every ID of that domain, it needs no heap block. Anything else (a `.pid`
//! suffix, upper-case hex, leading zeros, numbers past `u32`, not an ID at all) is kept as
//! text, so every ID reads back exactly as it came. In JSON it is the plain string.

use std::borrow::Borrow;
use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ocelot_protocol::{MessageIdRef, TreeView};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A message ID, or none (the empty string).
#[derive(Clone, Default, PartialEq, Eq)]
#[repr(C)] // `text` first: whether there is an ID is read on every message (`TransactionName`)
pub(crate) struct SampleId {
    /// The domain of a canonical ID (shared), the whole text otherwise, `None` for none.
    /// A thin pointer (`Arc<Box<str>>`, 8 bytes where `Arc<str>` takes 16) keeps the ID at
    /// 24 bytes: a transaction name holds two, and hundreds of thousands of names live in
    /// a busy hour. Reading the text takes one more hop, which only views and merges do.
    text: Option<SharedText>,
    ip: u32,
    hour: u32,
    seq: u32,
    canonical: bool,
}

/// Text shared between IDs: see [`SampleId::text`].
pub(crate) type SharedText = Arc<Box<str>>;

/// A shared domain in the per-thread set, found by its `&str`.
#[derive(PartialEq, Eq)]
struct SharedDomain(SharedText);

impl Hash for SharedDomain {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self.0).hash(state);
    }
}

impl Borrow<str> for SharedDomain {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Distinct domains remembered per thread for sharing; past this the set starts over (IDs
/// made before keep their text).
const SHARED_DOMAINS_MAX: usize = 10_000;

thread_local! {
    /// hashbrown's foldhash: std's SipHash cost more than the lookup it serves, once per
    /// sample an analyzer keeps.
    static DOMAINS: RefCell<hashbrown::HashSet<SharedDomain>> = RefCell::new(hashbrown::HashSet::new());
}

pub(crate) fn shared_domain(domain: &str) -> SharedText {
    DOMAINS.with(|domains| {
        let mut domains = domains.borrow_mut();
        if let Some(shared) = domains.get(domain) {
            return shared.0.clone();
        }
        if domains.len() >= SHARED_DOMAINS_MAX {
            domains.clear();
        }
        let shared: SharedText = Arc::new(Box::from(domain));
        domains.insert(SharedDomain(shared.clone()));
        shared
    })
}

/// `(domain, ip, hour, seq)` of an ID that formats back to exactly `id`: no pid, and hour
/// and sequence number within `u32`.
pub(crate) fn parse_canonical(id: &str) -> Option<(&str, u32, u32, u32)> {
    let parts = MessageIdRef::parse_canonical(id)?;
    let hour = u32::try_from(parts.hour).ok()?;
    let seq = u32::try_from(parts.seq).ok()?;
    Some((parts.domain, parts.ip, hour, seq))
}

impl SampleId {
    /// `id` as a report keeps it (`""` is none).
    pub(crate) fn new(id: &str) -> Self {
        if id.is_empty() {
            return SampleId::default();
        }
        match parse_canonical(id) {
            Some((domain, ip, hour, seq)) => SampleId {
                text: Some(shared_domain(domain)),
                ip,
                hour,
                seq,
                canonical: true,
            },
            None => SampleId {
                text: Some(Arc::new(Box::from(id))),
                ..SampleId::default()
            },
        }
    }

    /// `id` as [`ParsedId`] describes it: what [`SampleId::new`] makes of it, without
    /// parsing it again. An ID the parts do not fit is parsed after all.
    fn from_parsed(id: &str, parsed: ParsedId) -> Self {
        match id.get(..parsed.domain_len as usize) {
            Some(domain) if id.as_bytes().get(domain.len()) == Some(&b'-') => SampleId {
                text: Some(shared_domain(domain)),
                ip: parsed.ip,
                hour: parsed.hour,
                seq: parsed.seq,
                canonical: true,
            },
            _ => SampleId::new(id),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_none()
    }

    /// `(domain, ip, hour, seq)` of a canonical ID.
    pub(crate) fn canonical_parts(&self) -> Option<(&SharedText, u32, u32, u32)> {
        match (&self.text, self.canonical) {
            (Some(domain), true) => Some((domain, self.ip, self.hour, self.seq)),
            _ => None,
        }
    }
}

/// A tree's message ID as the caller already parsed it: a canonical CAT ID
/// (`domain-hexip-hour-seq`, formatting back to the same text) whose numbers a report keeps.
///
/// The collector parses each frame's ID on its socket thread to file the frame in the store;
/// handing the numbers on spares the analyzer thread parsing the same text again (about 5 %
/// of its instructions). Make it with [`ParsedId::from_canonical`] and pass it with that
/// tree to [`crate::HourAnalyzers::process_view_parsed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId {
    domain_len: u32,
    ip: u32,
    hour: u32,
    seq: u32,
}

impl ParsedId {
    /// The numbers of `parts`, which must come from
    /// [`MessageIdRef::parse_canonical`] of the tree's ID; `None` where a report keeps the
    /// ID as text (hour or sequence past `u32`).
    pub fn from_canonical(parts: &MessageIdRef<'_>) -> Option<ParsedId> {
        Some(ParsedId {
            domain_len: u32::try_from(parts.domain.len()).ok()?,
            ip: parts.ip,
            hour: u32::try_from(parts.hour).ok()?,
            seq: u32::try_from(parts.seq).ok()?,
        })
    }
}

/// The message ID of the tree being counted, parsed the first time a report keeps it and
/// then cloned (an `Arc` count) for every other transaction, event or problem of the tree
/// that keeps it too: parsing it for each of them was half the Transaction analyzer's
/// instructions.
pub(crate) struct TreeId<'a> {
    text: &'a str,
    /// The numbers of `text`, when the caller parsed it already.
    parsed: Option<ParsedId>,
    sample: OnceCell<SampleId>,
}

impl<'a> TreeId<'a> {
    /// The ID in `tree`'s header (none if the header has none).
    pub(crate) fn of(tree: &TreeView<'a>) -> Self {
        TreeId::new(tree.message_id().unwrap_or(""))
    }

    /// [`TreeId::of`], with the numbers of a canonical ID the caller parsed already.
    pub(crate) fn of_parsed(tree: &TreeView<'a>, parsed: Option<ParsedId>) -> Self {
        let text = tree.message_id().unwrap_or("");
        debug_assert!(
            parsed.is_none()
                || MessageIdRef::parse_canonical(text)
                    .and_then(|parts| ParsedId::from_canonical(&parts))
                    == parsed,
            "{text:?} is not what {parsed:?} says"
        );
        TreeId {
            text,
            parsed: parsed.filter(|_| !text.is_empty()),
            sample: OnceCell::new(),
        }
    }

    pub(crate) fn new(text: &'a str) -> Self {
        TreeId {
            text,
            parsed: None,
            sample: OnceCell::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The ID as a report keeps it.
    pub(crate) fn sample(&self) -> &SampleId {
        self.sample.get_or_init(|| match self.parsed {
            Some(parsed) => SampleId::from_parsed(self.text, parsed),
            None => SampleId::new(self.text),
        })
    }
}

impl fmt::Display for SampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.text, self.canonical) {
            (None, _) => Ok(()),
            (Some(text), false) => f.write_str(text),
            (Some(domain), true) => {
                f.write_str(CanonicalText::new(domain, self.ip, self.hour, self.seq).as_str())
            }
        }
    }
}

impl fmt::Debug for SampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for SampleId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (&self.text, self.canonical) {
            (None, _) => serializer.serialize_str(""),
            (Some(text), false) => serializer.serialize_str(text),
            (Some(domain), true) => {
                CanonicalText::new(domain, self.ip, self.hour, self.seq).serialize(serializer)
            }
        }
    }
}

/// A canonical ID written out (`domain-hexip-hour-seq`) without the formatting machinery:
/// checkpoints write every kept ID of every name, and `write!` through `fmt` was most of
/// what serializing an ID cost. On the stack for domains up to [`SHORT_DOMAIN`] bytes.
pub(crate) enum CanonicalText {
    Short([u8; SHORT_TEXT], usize),
    Long(String),
}

/// Longest domain written on the stack: with `-`, 8 hex digits, `-`, and two `u32`s of at
/// most 10 digits each with a `-` between, the text fits [`SHORT_TEXT`] bytes.
const SHORT_DOMAIN: usize = 64;
const SHORT_TEXT: usize = SHORT_DOMAIN + 1 + 8 + 1 + 10 + 1 + 10;

impl CanonicalText {
    pub(crate) fn new(domain: &str, ip: u32, hour: u32, seq: u32) -> Self {
        if domain.len() > SHORT_DOMAIN {
            return CanonicalText::Long(format!("{domain}-{ip:08x}-{hour}-{seq}"));
        }
        let mut buf = [0u8; SHORT_TEXT];
        let mut len = domain.len();
        buf[..len].copy_from_slice(domain.as_bytes());
        buf[len] = b'-';
        len += 1;
        for shift in (0..8).rev() {
            buf[len] = b"0123456789abcdef"[(ip >> (shift * 4)) as usize & 0xf];
            len += 1;
        }
        for n in [hour, seq] {
            buf[len] = b'-';
            len += 1;
            len += write_decimal(n, &mut buf[len..]);
        }
        CanonicalText::Short(buf, len)
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // A `str` followed by ASCII: always UTF-8.
            CanonicalText::Short(buf, len) => std::str::from_utf8(&buf[..*len]).unwrap_or_default(),
            CanonicalText::Long(text) => text,
        }
    }
}

impl Serialize for CanonicalText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Writes `n` in decimal at the start of `out` (at least 10 bytes); returns its length.
fn write_decimal(mut n: u32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    len
}

impl<'de> Deserialize<'de> for SampleId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(SampleId::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_exactly_and_canonical_ones_share_their_domain() {
        for id in [
            "",
            "shop-c0a8010a-498703-42",
            "order-service-c0a80101-498703-1234567",
            "a-b-c-00000000-0-0",
            "shop-C0A8010A-498703-42",
            "shop-c0a8010a.7-498703-42",
            "shop-c0a8010a-0498703-42",
            "shop-c0a8010a-498703-99999999999",
            "shop-c0a8010a-498703-+4",
            "-c0a8010a-1-2",
            "not an id",
            "null",
            "😀-c0a8010a-1-2",
        ] {
            let kept = SampleId::new(id);
            assert_eq!(kept.to_string(), id);
            assert_eq!(TreeId::new(id).sample(), &kept, "{id}");
            // The numbers the collector parsed give the same kept ID.
            let parsed =
                MessageIdRef::parse_canonical(id).and_then(|p| ParsedId::from_canonical(&p));
            let given = TreeId {
                text: id,
                parsed,
                sample: OnceCell::new(),
            };
            assert_eq!(given.sample(), &kept, "{id}");
            assert_eq!(kept.is_empty(), id.is_empty());
            let json = serde_json::to_string(&kept).unwrap();
            assert_eq!(json, serde_json::to_string(id).unwrap());
            assert_eq!(serde_json::from_str::<SampleId>(&json).unwrap(), kept);
        }
        let a = SampleId::new("shop-c0a8010a-498703-42");
        let b = SampleId::new("shop-c0a8010a-498703-43");
        assert!(Arc::ptr_eq(
            a.text.as_ref().unwrap(),
            b.text.as_ref().unwrap()
        ));
        assert_ne!(a, b);
        assert_ne!(a, SampleId::new("shop.c0a8010a-498703-42"));
        assert_ne!(a, SampleId::new(""));
        assert_eq!(a.canonical_parts().map(|p| p.1), Some(0xc0a8010a));
        assert_eq!(
            SampleId::new("shop-C0A8010A-498703-42").canonical_parts(),
            None
        );
        assert_eq!(std::mem::size_of::<SampleId>(), 24);
    }

    #[test]
    fn canonical_text_is_what_format_writes() {
        let long = "d".repeat(SHORT_DOMAIN + 1);
        for domain in [
            "shop",
            "",
            "order-service",
            &"x".repeat(SHORT_DOMAIN),
            &long,
        ] {
            for (ip, hour, seq) in [
                (0, 0, 0),
                (0xc0a8_010a, 498_703, 42),
                (u32::MAX, u32::MAX, u32::MAX),
                (1, 10, 9),
            ] {
                assert_eq!(
                    CanonicalText::new(domain, ip, hour, seq).as_str(),
                    format!("{domain}-{ip:08x}-{hour}-{seq}")
                );
            }
        }
    }
}
