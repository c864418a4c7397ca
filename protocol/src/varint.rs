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
pub(crate) fn read(buf: &[u8]) -> Read {
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
