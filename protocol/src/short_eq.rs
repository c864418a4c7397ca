//! [`short_eq`]: byte equality for the short texts of message trees without a `memcmp` call.

/// `a == b`, without a `memcmp` call for texts up to 32 bytes (types, names, statuses,
/// IPs, domains: most texts a tree's reports look up or a reused tree compares). For these
/// the call and its length dispatch cost more than the compare. Overlapping windows of one
/// width cover every byte: a text of 4-7 bytes is its first and last 4, of 17-32 its first
/// and last 16.
#[inline]
pub fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let w4 = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    let w8 = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let w16 = |s: &[u8], at: usize| u128::from_le_bytes(s[at..at + 16].try_into().expect("16"));
    match len {
        0 => true,
        // Positions 0, len / 2 and len - 1 are every position of a text of 1-3 bytes.
        1..=3 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, len - 4) == w4(b, len - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, len - 8) == w8(b, len - 8),
        17..=32 => w16(a, 0) == w16(b, 0) && w16(a, len - 16) == w16(b, len - 16),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_length_and_every_differing_byte() {
        for len in 0..40usize {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(short_eq(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!short_eq(&a, &b), "{len} {at}");
            }
            assert!(!short_eq(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    proptest! {
        #[test]
        fn is_slice_equality(a in proptest::collection::vec(0u8..4, 0..40), b in proptest::collection::vec(0u8..4, 0..40)) {
            prop_assert_eq!(short_eq(&a, &b), a == b);
        }
    }
}
