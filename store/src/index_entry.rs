//! The 48-bit index entry: where a frame sits in a data file.
//!
//! The entry for sequence number `seq` sits at byte `seq * ENTRY_BYTES` of the index file
//! for (hour, domain, client IP). It is six big-endian bytes: the 32-bit file address of the
//! block record, then the 16-bit offset of the frame inside the decompressed block.
//! All zeros means "no entry": no block starts at address 0 because every data file opens
//! with an 8-byte header.

/// Bytes per index entry.
pub const ENTRY_BYTES: u64 = 6;

/// Where one frame is: block record address in the data file, frame offset in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexEntry {
    /// File offset of the block record (its length field) in the data file.
    pub block_address: u32,
    /// Offset of the frame's length prefix inside the decompressed block.
    pub offset_in_block: u16,
}

impl IndexEntry {
    /// Packs the entry into its six on-disk bytes (big-endian).
    pub fn pack(self) -> [u8; 6] {
        let a = self.block_address.to_be_bytes();
        let o = self.offset_in_block.to_be_bytes();
        [a[0], a[1], a[2], a[3], o[0], o[1]]
    }

    /// Unpacks six on-disk bytes; `None` for the all-zero "absent" entry.
    pub fn unpack(bytes: [u8; 6]) -> Option<IndexEntry> {
        let entry = IndexEntry {
            block_address: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            offset_in_block: u16::from_be_bytes([bytes[4], bytes[5]]),
        };
        (entry.block_address != 0).then_some(entry)
    }
}

/// Byte offset of the entry for `seq`, or `None` if it does not fit a `u64`.
pub(crate) fn entry_position(seq: u64) -> Option<u64> {
    seq.checked_mul(ENTRY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn index_entry_roundtrips_at_field_limits() {
        for block_address in [1, 8, 0xffff, 0x1_0000, u32::MAX - 1, u32::MAX] {
            for offset_in_block in [0, 1, 0x7fff, 0x8000, u16::MAX] {
                let e = IndexEntry {
                    block_address,
                    offset_in_block,
                };
                assert_eq!(IndexEntry::unpack(e.pack()), Some(e));
            }
        }
    }

    #[test]
    fn index_entry_is_big_endian_address_then_offset() {
        let e = IndexEntry {
            block_address: 0x0102_0304,
            offset_in_block: 0x0506,
        };
        assert_eq!(e.pack(), [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn all_zero_index_entry_means_absent() {
        assert_eq!(IndexEntry::unpack([0; 6]), None);
        // A zero address with a non-zero offset is also absent: no block lives at 0.
        assert_eq!(IndexEntry::unpack([0, 0, 0, 0, 0, 7]), None);
    }

    proptest! {
        #[test]
        fn index_entry_roundtrips_for_any_nonzero_address(a in 1u32.., o in any::<u16>()) {
            let e = IndexEntry { block_address: a, offset_in_block: o };
            prop_assert_eq!(IndexEntry::unpack(e.pack()), Some(e));
        }

        #[test]
        fn index_entry_unpack_then_pack_is_identity(bytes in any::<[u8; 6]>()) {
            match IndexEntry::unpack(bytes) {
                Some(e) => prop_assert_eq!(e.pack(), bytes),
                None => prop_assert_eq!(&bytes[..4], &[0u8; 4][..]),
            }
        }
    }
}
