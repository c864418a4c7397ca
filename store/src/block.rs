//! Blocks: frames packed together and compressed as one independent GZIP member.
//!
//! A block record in a data file is
//!
//! ```text
//! u32 BE compressed length C | u32 BE uncompressed length U | C bytes: one GZIP member
//! ```
//!
//! The GZIP member is RFC 1952 with a fixed 10-byte header (no name, no extra fields, mtime
//! 0), raw deflate data, then CRC-32 and size, little-endian as RFC 1952 requires. The
//! uncompressed bytes are whole frames as received (`u32 BE length` + body), back to back.
//!
//! Decompression is capped: the reader allocates exactly `U` bytes (itself capped by
//! [`MAX_BLOCK_BYTES`]) and drives flate2's `Decompress` into that buffer, so a corrupt or
//! hostile block can never make it allocate or inflate more; a stream that wants to produce
//! more than `U` bytes is an error. `flate2::read::GzDecoder` is banned in clippy.toml for
//! exactly this reason (it inflates until the stream says stop).

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// Uncompressed bytes a block may hold before it is closed. Frame offsets inside a block
/// must fit the index entry's 16 bits, so every frame of a shared block starts below 64 KiB.
pub const BLOCK_SIZE_BYTES: usize = 64 * 1024;

/// Largest whole frame (prefix included) the store accepts: the protocol's default body cap
/// plus the prefix. A frame above [`BLOCK_SIZE_BYTES`] gets a block of its own (offset 0).
pub const MAX_FRAME_BYTES: usize = ocelot_protocol::DEFAULT_MAX_FRAME_BYTES + 4;

/// Largest uncompressed block: one maximal frame alone.
pub const MAX_BLOCK_BYTES: usize = MAX_FRAME_BYTES;

/// Largest compressed member accepted: deflate's worst-case growth on incompressible data
/// is 5 bytes per 16 KiB stored block; one per mille plus the GZIP framing covers it.
pub(crate) const MAX_COMPRESSED_BYTES: usize = MAX_BLOCK_BYTES + MAX_BLOCK_BYTES / 1000 + 1024;

/// Bytes of a block record's header (the two lengths).
pub const RECORD_HEADER_BYTES: usize = 8;

pub(crate) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff];
const GZIP_TRAILER_BYTES: usize = 8;

/// Which deflate implementation compresses blocks at `level`: `"isa-l"` at level 1 when the
/// crate is built with the `isal` feature, else `"zlib-rs"`.
pub fn deflate_engine(level: u32) -> &'static str {
    if isal_compresses(level) {
        "isa-l"
    } else {
        "zlib-rs"
    }
}

/// ISA-L's igzip level 0 matches zlib's level 1 in ratio on trees; other levels stay zlib's.
fn isal_compresses(level: u32) -> bool {
    cfg!(feature = "isal") && level == 1
}

/// Compresses blocks, reusing one deflate state.
pub(crate) struct BlockCompressor {
    deflate: Compress,
    /// With the `isal` feature, level 1 (the default) compresses with ISA-L: same ratio on
    /// trees, about twice as fast. Other levels, and any block igzip refuses, use zlib-rs.
    #[cfg(feature = "isal")]
    isal: Option<crate::isal_deflate::IsalDeflate>,
}

impl BlockCompressor {
    pub(crate) fn new(level: u32) -> BlockCompressor {
        BlockCompressor {
            deflate: Compress::new(Compression::new(level.min(9)), false),
            #[cfg(feature = "isal")]
            isal: isal_compresses(level).then(crate::isal_deflate::IsalDeflate::new),
        }
    }

    /// Writes the whole block record for `raw` into `out` (cleared first).
    pub(crate) fn compress_record(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(raw.len() / 2 + 64);
        out.extend_from_slice(&[0; RECORD_HEADER_BYTES]);
        out.extend_from_slice(&GZIP_HEADER);
        if !self.deflate_isal(raw, out) {
            self.deflate_zlib(raw, out);
        }
        let mut crc = Crc::new();
        crc.update(raw);
        out.extend_from_slice(&gzip_trailer(crc.sum(), raw.len()));
        let compressed = u32::try_from(out.len() - RECORD_HEADER_BYTES).expect("block below 4 GiB");
        let uncompressed = u32::try_from(raw.len()).expect("block below 4 GiB");
        out[..4].copy_from_slice(&compressed.to_be_bytes());
        out[4..8].copy_from_slice(&uncompressed.to_be_bytes());
    }

    #[cfg(feature = "isal")]
    fn deflate_isal(&mut self, raw: &[u8], out: &mut Vec<u8>) -> bool {
        self.isal
            .as_mut()
            .is_some_and(|isal| isal.compress(raw, out))
    }

    #[cfg(not(feature = "isal"))]
    fn deflate_isal(&mut self, _raw: &[u8], _out: &mut Vec<u8>) -> bool {
        false
    }

    /// Appends the raw deflate data of `raw` to `out`, with zlib-rs.
    fn deflate_zlib(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        self.deflate.reset();
        loop {
            let consumed =
                usize::try_from(self.deflate.total_in()).expect("fits: input is a slice");
            let status = self
                .deflate
                .compress_vec(&raw[consumed..], out, FlushCompress::Finish)
                .expect("deflate of an in-memory buffer cannot fail");
            if status == Status::StreamEnd {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
    }
}

// RFC 1952 fixes the trailer as little-endian; everything else in the store is big-endian.
#[allow(clippy::little_endian_bytes)]
fn gzip_trailer(crc: u32, len: usize) -> [u8; GZIP_TRAILER_BYTES] {
    let mut t = [0; GZIP_TRAILER_BYTES];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

/// The two lengths at the start of a block record, checked against the caps.
pub(crate) fn parse_record_header(
    header: [u8; RECORD_HEADER_BYTES],
) -> Result<(usize, usize), String> {
    let compressed = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let uncompressed = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if compressed < GZIP_HEADER.len() + GZIP_TRAILER_BYTES || compressed > MAX_COMPRESSED_BYTES {
        return Err(format!("compressed length {compressed} is out of range"));
    }
    if uncompressed == 0 || uncompressed > MAX_BLOCK_BYTES {
        return Err(format!(
            "uncompressed length {uncompressed} is out of range"
        ));
    }
    Ok((compressed, uncompressed))
}

/// Decompresses one GZIP member into exactly `uncompressed_len` bytes, or says why not.
pub fn decompress_member(member: &[u8], uncompressed_len: usize) -> Result<Vec<u8>, String> {
    if uncompressed_len > MAX_BLOCK_BYTES {
        return Err(format!(
            "uncompressed length {uncompressed_len} is above the cap"
        ));
    }
    if member.len() < GZIP_HEADER.len() + GZIP_TRAILER_BYTES {
        return Err("block is shorter than a GZIP member".to_owned());
    }
    // We always write the same 10 header bytes (FLG 0, mtime 0); any other header was not
    // written by us.
    if member[..GZIP_HEADER.len()] != GZIP_HEADER {
        return Err("block does not start with our GZIP header".to_owned());
    }
    let deflate = &member[GZIP_HEADER.len()..member.len() - GZIP_TRAILER_BYTES];
    let trailer = &member[member.len() - GZIP_TRAILER_BYTES..];
    let mut out = vec![0; uncompressed_len];
    let mut inflate = Decompress::new(false);
    let status = inflate
        .decompress(deflate, &mut out, FlushDecompress::Finish)
        .map_err(|e| format!("deflate data is corrupt: {e}"))?;
    if status != Status::StreamEnd {
        return Err(format!(
            "deflate stream does not end within the declared {uncompressed_len} bytes"
        ));
    }
    if inflate.total_out() != uncompressed_len as u64 {
        return Err(format!(
            "block inflates to {} bytes, header says {uncompressed_len}",
            inflate.total_out()
        ));
    }
    if inflate.total_in() != deflate.len() as u64 {
        return Err("bytes left over after the deflate stream".to_owned());
    }
    let mut crc = Crc::new();
    crc.update(&out);
    if trailer != gzip_trailer(crc.sum(), uncompressed_len) {
        return Err("GZIP checksum or size does not match".to_owned());
    }
    Ok(out)
}

/// The frame starting at `offset` of a decompressed block: its whole bytes.
pub(crate) fn frame_at(block: &[u8], offset: usize) -> Result<std::ops::Range<usize>, String> {
    let prefix = block
        .get(offset..offset.saturating_add(4))
        .ok_or_else(|| format!("offset {offset} is past the block's {} bytes", block.len()))?;
    let body = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let end = offset + 4 + body;
    if body == 0 || end > block.len() {
        return Err(format!(
            "frame at offset {offset} declares {body} bytes, block has {}",
            block.len()
        ));
    }
    Ok(offset..end)
}

/// Every frame of a decompressed block, in order, as (offset, range).
pub(crate) fn frames(
    block: &[u8],
) -> impl Iterator<Item = Result<(usize, std::ops::Range<usize>), String>> + '_ {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset >= block.len() {
            return None;
        }
        match frame_at(block, offset) {
            Ok(range) => {
                let start = offset;
                offset = range.end;
                Some(Ok((start, range)))
            }
            Err(e) => {
                offset = block.len();
                Some(Err(e))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record_parts(record: &[u8]) -> (usize, usize, &[u8]) {
        let (c, u) = parse_record_header(record[..8].try_into().unwrap()).unwrap();
        (c, u, &record[8..])
    }

    #[test]
    fn a_block_record_roundtrips_through_capped_decompression() {
        let raw: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        let mut record = Vec::new();
        BlockCompressor::new(1).compress_record(&raw, &mut record);
        let (c, u, member) = record_parts(&record);
        assert_eq!(c, member.len());
        assert_eq!(u, raw.len());
        assert_eq!(decompress_member(member, u).unwrap(), raw);
    }

    #[test]
    fn a_block_member_is_plain_gzip_readable_by_any_tool() {
        use std::io::Read;
        let raw = b"hello hello hello hello".repeat(100);
        let mut record = Vec::new();
        BlockCompressor::new(6).compress_record(&raw, &mut record);
        // Bounded by `take`, so this test decoder cannot run away either.
        let mut out = Vec::new();
        flate2::bufread::GzDecoder::new(&record[8..])
            .take(1 << 20)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn decompression_refuses_to_produce_more_than_declared() {
        let raw = vec![0u8; 50_000];
        let mut record = Vec::new();
        BlockCompressor::new(1).compress_record(&raw, &mut record);
        let err = decompress_member(&record[8..], 1000).unwrap_err();
        assert!(err.contains("does not end"), "{err}");
    }

    #[test]
    fn a_flipped_byte_is_caught_by_inflate_or_the_checksum() {
        let raw: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut record = Vec::new();
        BlockCompressor::new(1).compress_record(&raw, &mut record);
        for i in 8..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 0x5a;
            assert!(
                decompress_member(&bad[8..], raw.len()).is_err(),
                "flip at {i} passed"
            );
        }
    }

    #[test]
    fn record_headers_outside_the_caps_are_rejected() {
        assert!(parse_record_header([0, 0, 0, 0, 0, 0, 1, 0]).is_err());
        assert!(parse_record_header([0, 0, 1, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_record_header([0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0]).is_err());
        assert!(parse_record_header([0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert_eq!(
            parse_record_header([0, 0, 1, 0, 0, 0, 2, 0]),
            Ok((256, 512))
        );
    }

    #[test]
    fn frames_of_a_block_are_walked_and_a_bad_length_stops_the_walk() {
        let block = [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c', 0, 0, 0, 9, b'x'];
        let got: Vec<_> = frames(&block).collect();
        assert_eq!(got[0], Ok((0, 0..6)));
        assert_eq!(got[1], Ok((6, 6..11)));
        assert!(got[2].is_err());
        assert_eq!(got.len(), 3);
    }

    /// Text like a block of trees, incompressible bytes, a single byte, and the largest frame
    /// alone in its block.
    fn awkward_blocks() -> Vec<Vec<u8>> {
        let mut noise = Vec::with_capacity(BLOCK_SIZE_BYTES);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while noise.len() < BLOCK_SIZE_BYTES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_be_bytes());
        }
        // Lines shaped like trees' messages, with the numbers that make real ones differ.
        let mut trees = Vec::with_capacity(BLOCK_SIZE_BYTES);
        let mut n: u64 = 1;
        while trees.len() < BLOCK_SIZE_BYTES - 100 {
            n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (domain, machine, name, micros) =
                (n >> 60, n >> 56 & 7, n >> 40 & 63, n >> 20 & 0xfffff);
            trees.extend_from_slice(
                format!(
                    "t\tshop-{domain}\t10.0.{machine}.1\tURL\t/api/order/{name}\t0\t{micros}us\n"
                )
                .as_bytes(),
            );
        }
        let largest: Vec<u8> = (0..MAX_BLOCK_BYTES).map(|i| (i / 97 % 256) as u8).collect();
        vec![trees, noise, vec![7], largest]
    }

    #[test]
    fn every_level_roundtrips_awkward_blocks() {
        let mut record = Vec::new();
        for level in [0, 1, 2, 6, 9] {
            let mut compressor = BlockCompressor::new(level);
            // Twice through one compressor: its state is reset between blocks.
            for raw in awkward_blocks().iter().chain(awkward_blocks().iter()) {
                compressor.compress_record(raw, &mut record);
                let (c, u, member) = record_parts(&record);
                assert_eq!((c, u), (member.len(), raw.len()), "level {level}");
                assert!(c <= MAX_COMPRESSED_BYTES, "level {level}: {c} bytes");
                assert_eq!(&decompress_member(member, u).unwrap(), raw, "level {level}");
            }
        }
    }

    #[test]
    fn level_one_compresses_trees_as_well_as_zlib_does() {
        let raw = &awkward_blocks()[0];
        let mut record = Vec::new();
        BlockCompressor::new(1).compress_record(raw, &mut record);
        // zlib-rs level 1 on the same bytes, the reference whichever engine is built in.
        let mut reference = Vec::new();
        BlockCompressor::new(1).deflate_zlib(raw, &mut reference);
        let deflate_len = record.len() - RECORD_HEADER_BYTES - GZIP_HEADER.len() - 8;
        assert!(
            deflate_len * 100 <= reference.len() * 115,
            "{} engine: {deflate_len} bytes against zlib-rs's {}",
            deflate_engine(1),
            reference.len()
        );
    }

    #[test]
    fn the_engine_is_isal_only_at_level_one_and_only_with_the_feature() {
        let fast = if cfg!(feature = "isal") {
            "isa-l"
        } else {
            "zlib-rs"
        };
        assert_eq!(deflate_engine(1), fast);
        for level in [0, 2, 6, 9] {
            assert_eq!(deflate_engine(level), "zlib-rs");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_roundtrip_at_level_one(raw in proptest::collection::vec(any::<u8>(), 1..3000), repeat in 1usize..30) {
            let raw = raw.repeat(repeat);
            let mut record = Vec::new();
            BlockCompressor::new(1).compress_record(&raw, &mut record);
            let (c, u, member) = record_parts(&record);
            prop_assert_eq!((c, u), (member.len(), raw.len()));
            prop_assert_eq!(decompress_member(member, u).unwrap(), raw);
        }

        #[test]
        fn decompress_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300), len in 0usize..5000) {
            let _ = decompress_member(&bytes, len);
        }
    }
}
