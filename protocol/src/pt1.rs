//! PT1, CAT's plain-text encoding.
//!
//! ```text
//! body   := "PT1" (TAB header-field){10} LF  record*
//! record := 't' time TAB type TAB name TAB LF                              start, has children
//!         | 'T' time TAB type TAB name TAB status TAB <us>"us" TAB data TAB LF   end (time = start + duration)
//!         | 'A' time TAB type TAB name TAB status TAB <us>"us" TAB data TAB LF   childless transaction
//!         | ('E'|'H'|'M'|'L') time TAB type TAB name TAB status TAB data TAB LF
//! time   := "yyyy-MM-dd HH:mm:ss.SSS" wall-clock time in the sender's zone
//! ```
//!
//! Java escapes TAB, CR, LF and backslash as `\t`, `\r`, `\n`, `\\`; the C client escapes
//! nothing, so its data may hold raw tabs and newlines. The decoder therefore starts a new
//! record only at a line that begins with a tag, a well-formed time and a TAB, and gives the
//! data field everything up to the record's final TAB. Absent values are kept as written
//! (`null`); see [`crate::Header::parent_id`].

use bytes::Bytes;

use crate::error::DecodeError;
use crate::message::{DecodeOptions, Header, Leaf, Message, MessageTree, Transaction, MAX_DEPTH};

/// The body's first three bytes.
pub const MAGIC: &[u8; 3] = b"PT1";

/// Length of `yyyy-MM-dd HH:mm:ss.SSS`.
const TIME_LEN: usize = 23;

/// Appends `tree` as one whole PT1 frame (length prefix included) to `out`, writing times
/// in the zone `utc_offset_seconds` east of UTC.
pub fn encode(tree: &MessageTree, utc_offset_seconds: i32, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(MAGIC);
    for field in tree.header.fields() {
        out.push(b'\t');
        put_escaped(out, field);
    }
    out.push(b'\n');
    let w = Writer {
        out,
        offset_ms: i64::from(utc_offset_seconds) * 1000,
    };
    w.message(&tree.root);
    let body_len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&body_len.to_be_bytes());
}

/// Encodes `tree` into a new buffer holding one whole PT1 frame.
pub fn encode_to_bytes(tree: &MessageTree, utc_offset_seconds: i32) -> Bytes {
    let mut out = Vec::with_capacity(512);
    encode(tree, utc_offset_seconds, &mut out);
    Bytes::from(out)
}

fn put_escaped(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    offset_ms: i64,
}

impl Writer<'_> {
    fn time(&mut self, timestamp_ms: u64) {
        let local = i64::try_from(timestamp_ms)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_ms);
        self.out.extend_from_slice(format_time(local).as_bytes());
        self.out.push(b'\t');
    }

    fn field(&mut self, s: &str) {
        put_escaped(self.out, s);
        self.out.push(b'\t');
    }

    fn duration(&mut self, us: u64) {
        self.out.extend_from_slice(us.to_string().as_bytes());
        self.out.extend_from_slice(b"us\t");
    }

    fn message(mut self, root: &Message) {
        // Iterative, like the NT1 encoder: (transaction, next child index).
        let mut stack: Vec<(&Transaction, usize)> = Vec::new();
        let mut next = Some(root);
        loop {
            if let Some(message) = next.take() {
                match message {
                    Message::Transaction(t) if t.children.is_empty() => {
                        self.out.push(b'A');
                        self.time(t.timestamp_ms);
                        self.field(&t.type_);
                        self.field(&t.name);
                        self.field(&t.status);
                        self.duration(t.duration_us);
                        self.field(&t.data);
                        self.out.push(b'\n');
                    }
                    Message::Transaction(t) => {
                        self.out.push(b't');
                        self.time(t.timestamp_ms);
                        self.field(&t.type_);
                        self.field(&t.name);
                        self.out.push(b'\n');
                        stack.push((t, 0));
                    }
                    leaf => {
                        let tag = match leaf {
                            Message::Event(_) => b'E',
                            Message::Heartbeat(_) => b'H',
                            Message::Metric(_) => b'M',
                            _ => b'L',
                        };
                        let l = leaf.as_leaf().expect("transactions handled above");
                        self.out.push(tag);
                        self.time(l.timestamp_ms);
                        self.field(&l.type_);
                        self.field(&l.name);
                        self.field(&l.status);
                        self.field(&l.data);
                        self.out.push(b'\n');
                    }
                }
            }
            let Some((t, index)) = stack.last_mut() else {
                return;
            };
            if let Some(child) = t.children.get(*index) {
                *index += 1;
                next = Some(child);
            } else {
                let t = *t;
                self.out.push(b'T');
                self.time(t.timestamp_ms.saturating_add(t.duration_us / 1000));
                self.field(&t.type_);
                self.field(&t.name);
                self.field(&t.status);
                self.duration(t.duration_us);
                self.field(&t.data);
                self.out.push(b'\n');
                stack.pop();
            }
        }
    }
}

fn unescape(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if !s.contains('\\') {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// Whether a record starts at `pos`: a tag, a well-formed time and a TAB.
fn record_starts_at(body: &[u8], pos: usize) -> bool {
    let Some(rest) = body.get(pos..) else {
        return false;
    };
    rest.len() > TIME_LEN + 1
        && matches!(rest[0], b't' | b'T' | b'A' | b'E' | b'H' | b'M' | b'L')
        && is_time(&rest[1..1 + TIME_LEN])
        && rest[1 + TIME_LEN] == b'\t'
}

fn is_time(b: &[u8]) -> bool {
    const SHAPE: &[u8; TIME_LEN] = b"0000-00-00 00:00:00.000";
    b.len() == TIME_LEN
        && b.iter().zip(SHAPE).all(|(&c, &s)| {
            if s == b'0' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
}

/// Decodes a PT1 body (the bytes after the length prefix, magic included).
pub fn decode_body(body: &[u8], options: &DecodeOptions) -> Result<MessageTree, DecodeError> {
    if body.get(..3) != Some(MAGIC) {
        return Err(DecodeError::UnknownMagic {
            magic: String::from_utf8_lossy(&body[..body.len().min(3)]).into_owned(),
        });
    }
    let header_end = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(DecodeError::Truncated {
            offset: body.len(),
            what: "header line",
        })?;
    let fields: Vec<&[u8]> = body[..header_end].split(|&b| b == b'\t').collect();
    if fields.len() != 11 || fields[0] != MAGIC {
        return Err(DecodeError::MalformedText {
            offset: 0,
            reason: format!(
                "header line has {} fields, expected PT1 and 10",
                fields.len().saturating_sub(1)
            ),
        });
    }
    let f = |i: usize| unescape(fields[i]);
    let header = Header {
        domain: f(1),
        hostname: f(2),
        ip_address: f(3),
        thread_group_name: f(4),
        thread_id: f(5),
        thread_name: f(6),
        message_id: f(7),
        parent_message_id: f(8),
        root_message_id: f(9),
        session_token: f(10),
    };

    // Record boundaries: the body after the header, cut before every line that starts a record.
    let mut starts = Vec::new();
    let first = header_end + 1;
    if first < body.len() {
        if !record_starts_at(body, first) {
            return Err(malformed(first, "expected a record line after the header"));
        }
        starts.push(first);
        for (i, &b) in body.iter().enumerate().skip(first) {
            if b == b'\n' && record_starts_at(body, i + 1) {
                starts.push(i + 1);
            }
        }
    }

    let offset_ms = i64::from(options.pt1_utc_offset_seconds) * 1000;
    let mut stack: Vec<Transaction> = Vec::new();
    let mut root: Option<Message> = None;
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(body.len());
        let record = &body[start..end];
        let record = record.strip_suffix(b"\n").ok_or(DecodeError::Truncated {
            offset: end,
            what: "record line end",
        })?;
        let record = record.strip_suffix(b"\t").unwrap_or(record);
        if root.is_some() {
            return Err(DecodeError::TrailingData { offset: start });
        }
        let tag = record[0];
        let local_ms = parse_time(&record[1..1 + TIME_LEN])
            .ok_or_else(|| malformed(start + 1, "time out of range"))?;
        let timestamp_ms = u64::try_from(local_ms - offset_ms)
            .map_err(|_| malformed(start + 1, "time before 1970"))?;
        // A record may end right after its time ("E<time>TAB LF").
        let rest = record.get(2 + TIME_LEN..).unwrap_or_default();
        // Fields before the data, by tag; data takes the remainder, raw tabs included.
        let fixed = match tag {
            b't' => 2,
            b'T' | b'A' => 4,
            _ => 3,
        };
        let mut parts: Vec<&[u8]> = rest.splitn(fixed + 1, |&b| b == b'\t').collect();
        if tag == b't' {
            // "type TAB name TAB" with the trailing TAB already stripped.
            parts.truncate(2);
        }
        if parts.len() < fixed {
            return Err(malformed(start, "record has too few fields"));
        }
        let data = parts.get(fixed).map(|d| unescape(d)).unwrap_or_default();
        let finished = match tag {
            b't' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep {
                        offset: start,
                        max: MAX_DEPTH,
                    });
                }
                stack.push(Transaction {
                    type_: unescape(parts[0]),
                    name: unescape(parts[1]),
                    timestamp_ms,
                    ..Transaction::default()
                });
                None
            }
            b'T' | b'A' => {
                let duration_us = parse_duration(parts[3])
                    .ok_or_else(|| malformed(start, "duration is not <number>us"))?;
                let mut t = if tag == b'T' {
                    stack
                        .pop()
                        .ok_or(DecodeError::UnbalancedEnd { offset: start })?
                } else {
                    Transaction {
                        type_: unescape(parts[0]),
                        name: unescape(parts[1]),
                        timestamp_ms,
                        ..Transaction::default()
                    }
                };
                t.status = unescape(parts[2]);
                t.duration_us = duration_us;
                t.data = data;
                Some(Message::Transaction(t))
            }
            _ => {
                let leaf = Leaf {
                    type_: unescape(parts[0]),
                    name: unescape(parts[1]),
                    status: unescape(parts[2]),
                    timestamp_ms,
                    data,
                };
                Some(match tag {
                    b'E' => Message::Event(leaf),
                    b'H' => Message::Heartbeat(leaf),
                    b'M' => Message::Metric(leaf),
                    _ => Message::Trace(leaf),
                })
            }
        };
        if let Some(message) = finished {
            match stack.last_mut() {
                Some(parent) => parent.children.push(message),
                None => root = Some(message),
            }
        }
    }
    if !stack.is_empty() {
        return Err(DecodeError::UnclosedTransaction { open: stack.len() });
    }
    let root = root.ok_or(DecodeError::Empty)?;
    Ok(MessageTree { header, root })
}

fn malformed(offset: usize, reason: &str) -> DecodeError {
    DecodeError::MalformedText {
        offset,
        reason: reason.to_owned(),
    }
}

/// `<digits>us`, signed as CAT reads it (`Long.parseLong`, so `-3us` and `+3us` too).
///
/// A negative duration comes from a client that timed with a clock that stepped back; CAT
/// keeps the frame, so we do too, and count the transaction as taking 0 µs: our durations
/// are unsigned, and 0 is as close to "less than nothing" as the reports can show (a
/// wrapped value near `u64::MAX` would become a tree's longest duration instead).
fn parse_duration(field: &[u8]) -> Option<u64> {
    let signed = field.strip_suffix(b"us")?;
    let (negative, digits) = match signed.split_first() {
        Some((b'-', digits)) => (true, digits),
        Some((b'+', digits)) => (false, digits),
        _ => (false, signed),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if negative {
        // Any magnitude: the value is 0 whatever it is.
        return Some(0);
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn num(b: &[u8]) -> i64 {
    b.iter().fold(0, |n, &c| n * 10 + i64::from(c - b'0'))
}

/// `yyyy-MM-dd HH:mm:ss.SSS` (already shape-checked) as milliseconds since 1970 on the
/// same wall clock.
fn parse_time(b: &[u8]) -> Option<i64> {
    let (y, mo, d) = (num(&b[0..4]), num(&b[5..7]), num(&b[8..10]));
    let (h, mi, s, ms) = (
        num(&b[11..13]),
        num(&b[14..16]),
        num(&b[17..19]),
        num(&b[20..23]),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

// Calendar arithmetic in the proleptic Gregorian calendar (Howard Hinnant's well-known
// algorithms). Written here rather than pulling a date crate into the dependency-free
// protocol crate; both directions are tested against each other and known dates.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pt1_time_converts_both_ways() {
        let t = parse_time(b"2024-04-01 16:00:00.123").unwrap();
        assert_eq!(t - 8 * 3_600_000, 1_711_958_400_123);
        assert_eq!(format_time(t), "2024-04-01 16:00:00.123");
        for ms in [0i64, 951_782_400_000, 4_102_444_800_123, 1_795_331_391_582] {
            let s = format_time(ms);
            assert_eq!(parse_time(s.as_bytes()), Some(ms), "{s}");
        }
    }

    #[test]
    fn pt1_durations_are_signed_digits_and_negative_ones_are_zero() {
        assert_eq!(parse_duration(b"2500us"), Some(2_500));
        assert_eq!(parse_duration(b"0us"), Some(0));
        assert_eq!(parse_duration(b"+7us"), Some(7));
        assert_eq!(parse_duration(b"18446744073709551615us"), Some(u64::MAX));
        assert_eq!(parse_duration(b"-1us"), Some(0));
        assert_eq!(parse_duration(b"-0us"), Some(0));
        assert_eq!(parse_duration(b"-99999999999999999999999us"), Some(0));
        for bad in [
            &b"us"[..],
            b"-us",
            b"+us",
            b"--1us",
            b"+-1us",
            b"1 us",
            b"12",
            b"1.5us",
            b"18446744073709551616us",
        ] {
            assert_eq!(
                parse_duration(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn pt1_unescape_reverses_java_escaping() {
        let mut out = Vec::new();
        put_escaped(&mut out, "a\tb\nc\\d\re");
        assert_eq!(out, b"a\\tb\\nc\\\\d\\re");
        assert_eq!(unescape(&out), "a\tb\nc\\d\re");
        assert_eq!(unescape(b"C:\\x"), "C:\\x");
    }

    #[test]
    fn the_latest_timestamp_encodes_in_a_zone_east_of_utc() {
        // NT1 carries any u64; a tree decoded from it must encode as PT1 without
        // overflowing (a panic in debug builds) when the zone is added.
        for ts in [i64::MAX as u64, u64::MAX] {
            let tree = MessageTree::new(
                Header::default(),
                Message::Event(Leaf::new("E", "n", "0", ts, "")),
            );
            let frame = encode_to_bytes(&tree, 8 * 3600);
            assert!(frame.len() > 4);
        }
    }
}
