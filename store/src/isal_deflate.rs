//! ISA-L's deflate (`isal` feature): the block compressor used at level 1 when the feature is
//! on. Intel's igzip at its level 0 compresses the store's 64 KiB blocks of trees about twice
//! as fast as zlib-rs at level 1, to the same ratio (BENCHMARKS.md, tenth session): the store
//! writer's CPU per tree fell by about 0.5 us, a tenth of the collector's.
//!
//! This module is the crate's only `unsafe`: calls into the C library
//! through `isal-sys`'s raw bindings, each with its contract spelled out where it is made.
//! The stream is used statelessly: each call compresses one whole block into memory that is
//! already reserved, so no pointer outlives the call that set it.
#![allow(unsafe_code)]

use std::ptr;

use isal_sys::igzip_lib as isal;

/// igzip's fastest level, the one that matches zlib's level 1 in ratio on trees.
const IGZIP_LEVEL: u32 = 0;

/// A reusable igzip stream (about 80 KiB: its hash table lives inside).
pub(crate) struct IsalDeflate {
    stream: Box<isal::isal_zstream>,
}

// SAFETY: the stream's pointers are either null, ISA-L's static read-only Huffman table (set
// by `isal_deflate_stateless_init`), or `next_in`/`next_out`, which `compress` sets, uses and
// clears within one call on one thread. Nothing in it is tied to the thread that made it.
unsafe impl Send for IsalDeflate {}

impl IsalDeflate {
    pub(crate) fn new() -> IsalDeflate {
        let mut stream = Box::<isal::isal_zstream>::new_uninit();
        // SAFETY: the struct is plain C data (integers, arrays, raw pointers), for which all
        // zero bytes are a valid value; zeroing it first makes every field initialized, and
        // `isal_deflate_stateless_init` then sets the fields a stateless call reads.
        let stream = unsafe {
            stream.as_mut_ptr().write_bytes(0, 1);
            isal::isal_deflate_stateless_init(stream.as_mut_ptr());
            stream.assume_init()
        };
        IsalDeflate { stream }
    }

    /// Appends the raw deflate data of `raw` (one final block sequence) to `out`. False, with
    /// `out` unchanged, if igzip refused (then the caller compresses with zlib-rs instead);
    /// it does not on any input that fits in `u32`, since stored blocks are its fallback.
    pub(crate) fn compress(&mut self, raw: &[u8], out: &mut Vec<u8>) -> bool {
        let Ok(avail_in) = u32::try_from(raw.len()) else {
            return false;
        };
        // igzip falls back to stored blocks (5 bytes of header per 65 535 bytes) when its
        // output would not be smaller; with this much room that fallback always fits.
        out.reserve(raw.len() + raw.len() / 8192 + 64);
        let start = out.len();
        let spare = out.spare_capacity_mut();
        let Ok(avail_out) = u32::try_from(spare.len()) else {
            return false;
        };
        let stream = &mut *self.stream;
        // SAFETY: `stream` is an initialized `isal_zstream` (see `new`); stateless init only
        // writes its fields.
        unsafe { isal::isal_deflate_stateless_init(stream) };
        stream.level = IGZIP_LEVEL;
        stream.level_buf = ptr::null_mut();
        stream.level_buf_size = 0;
        stream.end_of_stream = 1;
        stream.flush = isal::NO_FLUSH as u16;
        stream.gzip_flag = isal::IGZIP_DEFLATE as u16;
        // igzip reads `avail_in` bytes from `next_in` (never writes them: the pointer is
        // `*mut` only in the C declaration) and writes at most `avail_out` bytes at
        // `next_out`, both inside the slices they come from.
        stream.next_in = raw.as_ptr().cast_mut();
        stream.avail_in = avail_in;
        stream.next_out = spare.as_mut_ptr().cast::<u8>();
        stream.avail_out = avail_out;
        // SAFETY: as above: the input and output pointers and lengths describe live, disjoint
        // memory (`raw` is borrowed, `spare` is `out`'s reserved tail), level 0 needs no level
        // buffer, and the call returns before either borrow ends.
        let rc = unsafe { isal::isal_deflate_stateless(stream) };
        let written = stream.total_out as usize;
        let consumed_all = stream.avail_in == 0;
        stream.next_in = ptr::null_mut();
        stream.next_out = ptr::null_mut();
        stream.avail_in = 0;
        stream.avail_out = 0;
        if rc != isal::COMP_OK as i32 || !consumed_all || written > spare.len() {
            return false;
        }
        // SAFETY: the first `written` bytes past `start` were initialized by igzip (above),
        // and `start + written` is within the capacity reserved for them.
        unsafe { out.set_len(start + written) };
        true
    }
}
