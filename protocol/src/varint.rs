//! Unsigned LEB128 varints as CAT writes them: 7 bits a byte, least significant first.
//!
//! No zigzag: Java writes a negative `long` as its 64-bit two's complement, ten bytes, so a
//! reader must accept up to ten bytes and keep the low 64 bits.

/// Longest varint a 64-bit value needs.
pub(crate) const MAX_VARINT_BYTES: usize = 10;

/// Appends `value` as a varint.
pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Outcome of reading a varint at the start of a slice.
pub(crate) enum Read {
    /// The value and how many bytes it took.
    Value(u64, usize),
    /// The slice ended before the last byte.
    Truncated,
    /// More than ten bytes, or bits beyond the 64th.
    Overflow,
}

/// Reads a varint from the start of `buf`.
#[inline(always)]
pub(crate) fn read(buf: &[u8]) -> Read {
    // Every message carries an epoch-millisecond timestamp, 41 bits (until 2039): exactly
    // six bytes. Those are read with one load and fixed shifts instead of the loop below.
    if let Some(&word) = buf.first_chunk::<8>() {
        let w = u64::from_le_bytes(word);
        if w & 0x0000_8080_8080_8080 == 0x0000_0080_8080_8080 {
            let value = (w & 0x7f)
                | (w >> 1 & 0x7f << 7)
                | (w >> 2 & 0x7f << 14)
                | (w >> 3 & 0x7f << 21)
                | (w >> 4 & 0x7f << 28)
                | (w >> 5 & 0x7f << 35);
            return Read::Value(value, 6);
        }
    }
    read_bytewise(buf)
}

/// [`read`] a byte at a time.
#[inline(never)]
fn read_bytewise(buf: &[u8]) -> Read {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(MAX_VARINT_BYTES) {
        let low = u64::from(byte & 0x7f);
        if i == MAX_VARINT_BYTES - 1 && low > 1 {
            return Read::Overflow;
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Read::Value(value, i + 1);
        }
    }
    if buf.len() >= MAX_VARINT_BYTES {
        Read::Overflow
    } else {
        Read::Truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrips_at_limits() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            1_711_958_400_123,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, v);
            match read(&out) {
                Read::Value(got, len) => {
                    assert_eq!(got, v);
                    assert_eq!(len, out.len());
                }
                _ => panic!("failed to read back {v}"),
            }
        }
    }

    #[test]
    fn six_byte_varints_read_the_same_with_or_without_bytes_after_them() {
        for v in [1 << 35, 1_711_958_400_123, 1_796_449_620_792, (1 << 42) - 1] {
            let mut out = Vec::new();
            put(&mut out, v);
            assert_eq!(out.len(), 6, "{v}");
            for tail in [0usize, 1, 2, 5] {
                let mut buf = out.clone();
                buf.extend(std::iter::repeat_n(0xff, tail));
                match read(&buf) {
                    Read::Value(got, len) => assert_eq!((got, len), (v, 6), "{v} + {tail}"),
                    _ => panic!("{v} + {tail}"),
                }
            }
        }
    }

    proptest::proptest! {
        /// The six-byte shortcut reads what the byte loop reads, for any bytes.
        #[test]
        fn the_shortcut_agrees_with_the_byte_loop(
            buf in proptest::collection::vec(
                proptest::prop_oneof![0x80u8..=0xff, 0u8..0x80, proptest::prelude::any::<u8>()],
                0..14,
            )
        ) {
            let as_tuple = |r: Read| match r {
                Read::Value(v, n) => (0, v, n),
                Read::Truncated => (1, 0, 0),
                Read::Overflow => (2, 0, 0),
            };
            proptest::prop_assert_eq!(as_tuple(read(&buf)), as_tuple(read_bytewise(&buf)));
        }
    }

    #[test]
    fn varint_matches_the_reference_example() {
        let mut out = Vec::new();
        put(&mut out, 1_711_958_400_123);
        assert_eq!(out, [0xfb, 0xb8, 0xb0, 0xc5, 0xe9, 0x31]);
    }

    #[test]
    fn varint_rejects_an_eleventh_byte() {
        assert!(matches!(read(&[0xff; 11]), Read::Overflow));
        assert!(matches!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Read::Overflow
        ));
        assert!(matches!(read(&[0xff, 0xff]), Read::Truncated));
    }
}
