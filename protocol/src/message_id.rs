//! CAT message IDs: `domain-hexip[.pid]-hour-seq`.
//!
//! The domain may itself contain `-`, so an ID is parsed from the right: the last three
//! dashes separate the sequence number, the hour and the IP; everything before is the domain.

use std::fmt;
use std::str::FromStr;

use crate::error::MessageIdError;

/// Milliseconds in an hour: the hour index in an ID is `epoch_ms / MILLIS_PER_HOUR`.
pub const MILLIS_PER_HOUR: u64 = 3_600_000;

/// The hour index of an epoch-millisecond timestamp.
pub fn hour_of(timestamp_ms: u64) -> u64 {
    timestamp_ms / MILLIS_PER_HOUR
}

/// Longest ID we accept; longer input is not an ID any client makes.
const MAX_ID_BYTES: usize = 1024;

/// A parsed message ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    /// The domain the ID was made for (for RPC callees, the callee's domain).
    pub domain: String,
    /// The producing machine's IPv4 address as a number (`c0a8010a` = 192.168.1.10).
    pub ip: u32,
    /// Process id suffix (`.pid`), present when the client runs several instances.
    pub pid: Option<u32>,
    /// Hours since the epoch.
    pub hour: u64,
    /// Sequence number within (domain, hour) in the producing process.
    pub seq: u64,
}

impl MessageId {
    /// An ID from its parts.
    pub fn new(domain: impl Into<String>, ip: u32, hour: u64, seq: u64) -> Self {
        MessageId {
            domain: domain.into(),
            ip,
            pid: None,
            hour,
            seq,
        }
    }

    /// The IP as 8 lower-case hex digits, as it appears in the ID.
    pub fn ip_hex(&self) -> String {
        format!("{:08x}", self.ip)
    }

    /// The IP in dotted form.
    pub fn ip_dotted(&self) -> String {
        std::net::Ipv4Addr::from(self.ip).to_string()
    }

    /// Start of the ID's hour, epoch milliseconds.
    pub fn hour_start_ms(&self) -> u64 {
        self.hour.saturating_mul(MILLIS_PER_HOUR)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:08x}", self.domain, self.ip)?;
        if let Some(pid) = self.pid {
            write!(f, ".{pid}")?;
        }
        write!(f, "-{}-{}", self.hour, self.seq)
    }
}

fn err(id: &str, part: &'static str, reason: &'static str) -> MessageIdError {
    let mut end = id.len().min(200);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    MessageIdError {
        id: id[..end].to_owned(),
        part,
        reason,
    }
}

fn parse_decimal(id: &str, s: &[u8], part: &'static str) -> Result<u64, MessageIdError> {
    if s.is_empty() {
        return Err(err(id, part, "is empty"));
    }
    if !s.iter().all(u8::is_ascii_digit) {
        return Err(err(id, part, "is not a decimal number"));
    }
    decimal_value(s).ok_or_else(|| err(id, part, "is too large"))
}

/// The value of `digits` (ASCII digits only), `None` past `u64`. Nineteen digits never
/// overflow, so those are summed without checks (an ID's hour and index are 6 and 1-7).
fn decimal_value(digits: &[u8]) -> Option<u64> {
    if digits.len() <= 19 {
        Some(
            digits
                .iter()
                .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')),
        )
    } else {
        digits.iter().try_fold(0u64, |n, &b| {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
    }
}

/// The decimal number that ends `bytes[..end]`, written as `Display` writes it (digits,
/// no leading zero, within `u64`), and the index of the dash before it; `None` if
/// `bytes[..end]` does not end that way.
fn canonical_decimal_before(bytes: &[u8], end: usize) -> Option<(u64, usize)> {
    let mut digits_start = end;
    while digits_start > 0 && bytes[digits_start - 1].is_ascii_digit() {
        digits_start -= 1;
    }
    let digits = &bytes[digits_start..end];
    let dash = digits_start.checked_sub(1)?;
    if bytes[dash] != b'-' || digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    Some((decimal_value(digits)?, dash))
}

/// Each byte's value as a hex digit (either case), `0xff` for any other byte.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Exactly 8 hex digits, either case: a table lookup a byte and one check at the end,
/// no branch per digit.
fn parse_ip_hex(s: &[u8]) -> Option<u32> {
    let digits: &[u8; 8] = s.try_into().ok()?;
    let (mut ip, mut invalid) = (0u32, 0u8);
    for &b in digits {
        let digit = HEX_DIGITS[usize::from(b)];
        invalid |= digit;
        ip = ip << 4 | u32::from(digit & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(ip)
}

/// A message ID's parts, the domain borrowed from the text they were parsed from: what
/// [`MessageId`] holds, without allocating. Use it to check or compare an ID on a hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageIdRef<'a> {
    /// See [`MessageId::domain`].
    pub domain: &'a str,
    /// See [`MessageId::ip`].
    pub ip: u32,
    /// See [`MessageId::pid`].
    pub pid: Option<u32>,
    /// See [`MessageId::hour`].
    pub hour: u64,
    /// See [`MessageId::seq`].
    pub seq: u64,
}

impl<'a> MessageIdRef<'a> {
    /// Parses `id` as [`MessageId`]'s `FromStr` does, with the same errors.
    ///
    /// Byte by byte from the right: every tree's ID is parsed on the collector's socket
    /// thread and again by an analyzer that keeps it as a sample, so this is a hot path
    /// (the `rsplitn` and `str::parse` version cost about 1 100 instructions an ID).
    pub fn parse(id: &'a str) -> Result<Self, MessageIdError> {
        if let Some(parts) = Self::parse_canonical(id) {
            return Ok(parts);
        }
        if id.len() > MAX_ID_BYTES {
            return Err(err(id, "id", "is longer than 1024 bytes"));
        }
        let bytes = id.as_bytes();
        let dash = |end: usize| bytes[..end].iter().rposition(|&b| b == b'-');
        let seq_dash = dash(bytes.len());
        let hour_dash = seq_dash.and_then(dash);
        let ip_dash = hour_dash.and_then(dash);
        let (Some(seq_dash), Some(hour_dash), Some(ip_dash)) = (seq_dash, hour_dash, ip_dash)
        else {
            return Err(err(
                id,
                "id",
                "needs four dash-separated parts: domain-hexip-hour-seq",
            ));
        };
        // Dashes are ASCII, so these are all char boundaries.
        let domain = &id[..ip_dash];
        let ip_part = &bytes[ip_dash + 1..hour_dash];
        let hour = &bytes[hour_dash + 1..seq_dash];
        let seq = &bytes[seq_dash + 1..];
        if domain.is_empty() {
            return Err(err(id, "domain", "is empty"));
        }
        let control = if domain.is_ascii() {
            domain.bytes().any(|b| b.is_ascii_control())
        } else {
            domain.chars().any(char::is_control)
        };
        if control {
            return Err(err(id, "domain", "contains control characters"));
        }
        let (ip_hex, pid) = match ip_part.iter().position(|&b| b == b'.') {
            Some(dot) => (&ip_part[..dot], Some(&ip_part[dot + 1..])),
            None => (ip_part, None),
        };
        let ip = parse_ip_hex(ip_hex).ok_or_else(|| err(id, "ip", "must be 8 hex digits"))?;
        let pid = match pid {
            Some(p) => Some(
                u32::try_from(parse_decimal(id, p, "pid")?)
                    .map_err(|_| err(id, "pid", "is too large"))?,
            ),
            None => None,
        };
        Ok(MessageIdRef {
            domain,
            ip,
            pid,
            hour: parse_decimal(id, hour, "hour")?,
            seq: parse_decimal(id, seq, "index")?,
        })
    }

    /// The parts of `id` if it is exactly how [`MessageId`]'s `Display` writes an ID without
    /// a pid (lower-case hex, no leading zeros): the form every client makes, and the one a
    /// report keeps as numbers. `None` for anything else, valid or not; then [`Self::parse`]
    /// says which it is.
    ///
    /// One pass from the right over the three numbers, checking their form as it reads
    /// them: what [`Self::parse`] followed by a comparison with `Display`'s text decides
    /// (tested against that), in about a quarter of the instructions. Every tree's ID is read this
    /// way on the collector's socket thread and again by the analyzer that keeps it.
    pub fn parse_canonical(id: &'a str) -> Option<Self> {
        let bytes = id.as_bytes();
        if bytes.len() > MAX_ID_BYTES {
            return None;
        }
        let (seq, seq_dash) = canonical_decimal_before(bytes, bytes.len())?;
        let (hour, hour_dash) = canonical_decimal_before(bytes, seq_dash)?;
        let ip_dash = hour_dash.checked_sub(9)?;
        if bytes[ip_dash] != b'-' {
            return None;
        }
        let ip = parse_ip_hex(&bytes[ip_dash + 1..hour_dash])?;
        if bytes[ip_dash + 1..hour_dash]
            .iter()
            .any(u8::is_ascii_uppercase)
        {
            return None;
        }
        // Dashes are ASCII, so this is a char boundary.
        let domain = &id[..ip_dash];
        // Printable ASCII in one pass; anything else (rare) is checked as `parse` does.
        let printable = domain.bytes().all(|b| (b' '..b'\x7f').contains(&b));
        if domain.is_empty() || (!printable && domain.chars().any(char::is_control)) {
            return None;
        }
        Some(MessageIdRef {
            domain,
            ip,
            pid: None,
            hour,
            seq,
        })
    }

    /// The same ID, owning its domain.
    pub fn to_message_id(&self) -> MessageId {
        MessageId {
            domain: self.domain.to_owned(),
            ip: self.ip,
            pid: self.pid,
            hour: self.hour,
            seq: self.seq,
        }
    }
}

impl MessageId {
    /// This ID's parts, borrowing its domain.
    pub fn as_borrowed(&self) -> MessageIdRef<'_> {
        MessageIdRef {
            domain: &self.domain,
            ip: self.ip,
            pid: self.pid,
            hour: self.hour,
            seq: self.seq,
        }
    }
}

impl FromStr for MessageId {
    type Err = MessageIdError;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        MessageIdRef::parse(id).map(|parts| parts.to_message_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_parses_from_the_right() {
        let id: MessageId = "order-service-c0000202-498703-1".parse().unwrap();
        assert_eq!(id.domain, "order-service");
        assert_eq!(id.ip, 0xc000_0202);
        assert_eq!(id.ip_dotted(), "192.0.2.2");
        assert_eq!(id.hour, 498_703);
        assert_eq!(id.seq, 1);
        assert_eq!(id.to_string(), "order-service-c0000202-498703-1");
    }

    #[test]
    fn message_id_keeps_the_pid_suffix() {
        let id: MessageId = "shop-c0a8010a.1234-475544-0".parse().unwrap();
        assert_eq!(id.pid, Some(1234));
        assert_eq!(id.to_string(), "shop-c0a8010a.1234-475544-0");
    }

    #[test]
    fn message_id_hour_is_epoch_hours() {
        assert_eq!(hour_of(1_711_958_400_123), 475_544);
    }

    #[test]
    fn message_id_rejects_malformed_input_naming_the_part() {
        let cases = [
            ("", "id"),
            ("shop-c0a8010a-475544", "id"),
            ("-c0a8010a-475544-1", "domain"),
            ("shop-c0a801-475544-1", "ip"),
            ("shop-zza8010a-475544-1", "ip"),
            ("shop-c0a8010a-47x-1", "hour"),
            ("shop-c0a8010a-475544-", "index"),
            ("shop-c0a8010a-475544-99999999999999999999999", "index"),
            ("shop-c0a8010a.x-475544-1", "pid"),
        ];
        for (input, part) in cases {
            let e = input.parse::<MessageId>().unwrap_err();
            assert_eq!(e.part, part, "{input}: {e}");
        }
    }

    #[test]
    fn a_borrowed_parse_agrees_with_the_owned_one_and_knows_canonical_text() {
        for id in [
            "shop-c0a8010a-498703-42",
            "order-service-c0000202-498703-1",
            "a-b-c-00000000-0-0",
            "shop-C0A8010A-498703-42",
            "shop-c0a8010A-498703-42",
            "shop-c0a8010a.7-498703-42",
            "shop-c0a8010a.07-498703-42",
            "shop-c0a8010a-0498703-42",
            "shop-c0a8010a-498703-042",
            "shop-c0a8010a-498703-18446744073709551615",
            "shop-c0a8010a-498703-+4",
            "-c0a8010a-1-2",
            "not an id",
            "😀-c0a8010a-1-2",
        ] {
            let owned = id.parse::<MessageId>();
            let borrowed = MessageIdRef::parse(id);
            assert_eq!(
                borrowed
                    .as_ref()
                    .map(MessageIdRef::to_message_id)
                    .map_err(|e| e.part),
                owned.clone().map_err(|e| e.part),
                "{id}"
            );
            if let (Ok(parts), Ok(owned)) = (borrowed, owned) {
                assert_eq!(parts, owned.as_borrowed());
                assert_eq!(
                    MessageIdRef::parse_canonical(id).is_some(),
                    owned.pid.is_none() && owned.to_string() == id,
                    "{id}"
                );
            }
        }
    }

    /// The parser as first written (`rsplitn`, `str::parse`): the reference the byte-level
    /// one must agree with, value and error alike.
    fn parse_reference(id: &str) -> Result<MessageIdRef<'_>, MessageIdError> {
        if id.len() > MAX_ID_BYTES {
            return Err(err(id, "id", "is longer than 1024 bytes"));
        }
        let mut parts = id.rsplitn(4, '-');
        let seq = parts.next().unwrap_or_default();
        let (Some(hour), Some(ip_part), Some(domain)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err(
                id,
                "id",
                "needs four dash-separated parts: domain-hexip-hour-seq",
            ));
        };
        if domain.is_empty() {
            return Err(err(id, "domain", "is empty"));
        }
        if domain.chars().any(char::is_control) {
            return Err(err(id, "domain", "contains control characters"));
        }
        let (ip_hex, pid) = match ip_part.split_once('.') {
            Some((ip, pid)) => (ip, Some(pid)),
            None => (ip_part, None),
        };
        if ip_hex.len() != 8 || !ip_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(id, "ip", "must be 8 hex digits"));
        }
        let ip =
            u32::from_str_radix(ip_hex, 16).map_err(|_| err(id, "ip", "must be 8 hex digits"))?;
        let decimal = |s: &str, part| -> Result<u64, MessageIdError> {
            if s.is_empty() {
                return Err(err(id, part, "is empty"));
            }
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(id, part, "is not a decimal number"));
            }
            s.parse().map_err(|_| err(id, part, "is too large"))
        };
        let pid = match pid {
            Some(p) => Some(
                u32::try_from(decimal(p, "pid")?).map_err(|_| err(id, "pid", "is too large"))?,
            ),
            None => None,
        };
        Ok(MessageIdRef {
            domain,
            ip,
            pid,
            hour: decimal(hour, "hour")?,
            seq: decimal(seq, "index")?,
        })
    }

    proptest::proptest! {
        #[test]
        fn the_byte_level_parser_agrees_with_the_reference(
            id in "[a-fA-F0-9xz.\\-]{0,40}|[a-z-]{1,12}-[0-9a-fA-F]{7,9}(\\.[0-9]{1,11})?-[0-9]{1,21}-[0-9]{1,21}|(\\PC|\\pC){0,12}-[0-9a-f]{8}-1-2",
        ) {
            proptest::prop_assert_eq!(MessageIdRef::parse(&id), parse_reference(&id));
        }
    }

    /// What [`MessageIdRef::parse_canonical`] must decide: a full parse, no pid, and text
    /// that `Display` writes back the same.
    fn canonical_reference(id: &str) -> Option<MessageIdRef<'_>> {
        parse_reference(id)
            .ok()
            .filter(|parts| parts.pid.is_none() && parts.to_message_id().to_string() == id)
    }

    proptest::proptest! {
        #[test]
        fn the_canonical_parser_agrees_with_parse_and_display(
            id in "[a-fA-F0-9xz.\\-]{0,40}|[a-z-]{0,12}-[0-9a-fA-F]{7,9}(\\.[0-9]{1,11})?-0?[0-9]{1,21}-0?[0-9]{1,21}|(\\PC|\\pC){0,12}-[0-9a-f]{8}-[0-9]{1,3}-[0-9]{1,3}",
        ) {
            proptest::prop_assert_eq!(MessageIdRef::parse_canonical(&id), canonical_reference(&id));
        }
    }

    /// Both parsers against their references, on the edge cases of either.
    #[test]
    fn the_parsers_agree_with_their_references_on_edge_cases() {
        let long = format!("{}-c0a8010a-1-2", "d".repeat(1100));
        for id in [
            "shop-c0a8010a-498703-42",
            "shop-c0a8010a-0-0",
            "shop-c0a8010a-00-0",
            "shop-c0a8010a-498703-18446744073709551615",
            "shop-c0a8010a-498703-18446744073709551616",
            "shop-c0a8010a-498703-99999999999999999999",
            "shop-c0a8010a-498703-1844674407370955161",
            "shop-c0a8010A-498703-42",
            "shop-c0a8010a.7-498703-42",
            "shop-c0a8010a.4294967295-1-2",
            "shop-c0a8010a.4294967296-1-2",
            "shop-c0a8010a.-1-2",
            "shop-c0a8010a..1-1-2",
            "-c0a8010a-1-2",
            "c0a8010a-1-2",
            "a-b-c-00000000-0-0",
            "a--b-c0a8010a-1-2",
            "shop-c0a8010a--42",
            "shop-c0a8010a-1-",
            "shop-c0a8010a-+1-2",
            "shopc0a8010a-1-2",
            "shop--1-2",
            "---",
            "-1-2",
            "",
            "d\u{7f}-c0a8010a-1-2",
            "d\u{85}-c0a8010a-1-2",
            "d\té-c0a8010a-1-2",
            "\u{e9}-c0a8010a-1-2",
            "é-C0A8010A-1-2",
            long.as_str(),
        ] {
            assert_eq!(MessageIdRef::parse(id), parse_reference(id), "{id}");
            assert_eq!(
                MessageIdRef::parse_canonical(id),
                canonical_reference(id),
                "{id}"
            );
        }
    }
}
