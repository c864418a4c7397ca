//! `ocelot decode`: captured frames to JSON lines.
//!
//! Each input, a file or standard input, is read a chunk at a time and split into frames as
//! the bytes arrive, by the collector's [`FrameDecoder`]: a capture of any size holds about
//! one frame in memory, and a pipe that stays open (`nc -l 2280 | ocelot decode`) prints each
//! tree as soon as its frame is complete.

use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bytes::BytesMut;
use ocelot_protocol::{
    decode_frame, DecodeOptions, FrameDecoder, FrameError, TreeJson, WireFormat,
    LENGTH_PREFIX_BYTES,
};

/// The file argument that means standard input (as for `cat` and `gzip`).
const STDIN_ARG: &str = "-";
/// Bytes asked of the input per read: the size of a pipe's buffer on Linux, and a few
/// typical frames. Larger frames are gathered over several reads.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Parses `+HH:MM`, `-HH:MM` or `Z` into seconds east of UTC.
pub(crate) fn parse_utc_offset(s: &str) -> Result<i32, String> {
    if s == "Z" || s == "UTC" {
        return Ok(0);
    }
    let bad = || format!("{s:?} is not a UTC offset like +08:00 or -05:30");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Decodes every input (`-`, or no file at all, is standard input), printing each tree. An
/// input stops at its first bad frame (what follows cannot be framed again); a CAT frame
/// over the size cap is stepped over and reported, as the collector does. The other inputs
/// are still decoded, and the exit status says whether any input had a problem.
pub(crate) fn run(files: &[PathBuf], pt1_utc_offset_seconds: i32) -> anyhow::Result<ExitCode> {
    let options = DecodeOptions {
        pt1_utc_offset_seconds,
    };
    let stdin_only = [PathBuf::from(STDIN_ARG)];
    let inputs = if files.is_empty() {
        // Waiting on a terminal for binary frames is never what was meant.
        anyhow::ensure!(
            !std::io::stdin().is_terminal(),
            "decode needs input: name capture files, or pipe frames into it \
             (`ocelot decode -` reads standard input)"
        );
        &stdin_only[..]
    } else {
        files
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for input in inputs {
        // The errors here are all failures to write the output.
        let fine = if input.as_os_str() == STDIN_ARG {
            decode_input(std::io::stdin().lock(), "stdin", &options, &mut out)
        } else {
            let name = input.display().to_string();
            match File::open(input) {
                Ok(file) => decode_input(file, &name, &options, &mut out),
                Err(e) => report(&name, &e.to_string(), &mut out).map(|()| false),
            }
        }
        .context(crate::WritingStdout)?;
        failed |= !fine;
    }
    out.flush().context(crate::WritingStdout)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the trees of one input as its frames arrive; whether it had no problem. Each
/// problem (a malformed or truncated frame, one stepped over, a failed read) is one line on
/// stderr with the input's name and the byte offset. The error is a failure to write the
/// output.
fn decode_input(
    mut input: impl Read,
    name: &str,
    options: &DecodeOptions,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut decoder = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let mut fine = true;
    // Where the last frame stepped over ends: the input must reach it.
    let mut skipped_until = 0;
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let offset = decoder.offset() - frame.len() as u64;
                    match decode_frame(&frame, options) {
                        Ok(tree) => {
                            let format = WireFormat::of_body(&frame[LENGTH_PREFIX_BYTES..])
                                .expect("decoded, so the magic is known");
                            serde_json::to_writer(
                                &mut *out,
                                &TreeJson {
                                    format,
                                    tree: &tree,
                                },
                            )?;
                            out.write_all(b"\n")?;
                        }
                        Err(e) => {
                            report(name, &format!("byte offset {offset}: {e}"), out)?;
                            return Ok(false);
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (offset, length) = frame_error_at(&e);
                    if offset == 0 && is_data_file_start(&buf) {
                        report(name, DATA_FILE_GIVEN, out)?;
                        return Ok(false);
                    }
                    report(name, &format!("byte offset {offset}: {e}"), out)?;
                    if !e.is_recoverable() {
                        return Ok(false);
                    }
                    skipped_until = offset + LENGTH_PREFIX_BYTES as u64 + length;
                    fine = false;
                }
            }
        }
        // What is decoded so far is shown before waiting on the input again.
        out.flush()?;
        let read = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let offset = decoder.offset() + buf.len() as u64;
                report(
                    name,
                    &format!("byte offset {offset}: reading failed: {e}"),
                    out,
                )?;
                return Ok(false);
            }
        };
        buf.extend_from_slice(&chunk[..read]);
    }
    let offset = decoder.offset();
    if !buf.is_empty() || offset < skipped_until {
        let left = if buf.is_empty() {
            format!(
                "{} of a skipped frame's bytes missing",
                skipped_until - offset
            )
        } else {
            format!("{} bytes left", buf.len())
        };
        report(
            name,
            &format!("byte offset {offset}: truncated frame ({left}, frame incomplete)"),
            out,
        )?;
        return Ok(false);
    }
    Ok(fine)
}

/// What `decode` says of a store data file: its first bytes read as a length of about
/// 1.3 GB, and "frame at offset 0 declares 1329810500 bytes" did not say what was wrong.
const DATA_FILE_GIVEN: &str = "this is a store data file (messages.dat: compressed blocks), \
    not captured frames; print a stored tree with `ocelot lookup <message id>`";

/// Whether `buf`, the start of an input, starts like a store data file: its magic, or as
/// much of it as has arrived (a length prefix's worth at least, since framing failed).
fn is_data_file_start(buf: &[u8]) -> bool {
    let n = buf.len().min(ocelot_store::DATA_MAGIC.len());
    n >= LENGTH_PREFIX_BYTES && buf[..n] == ocelot_store::DATA_MAGIC[..n]
}

/// The stream offset of the frame a framing error is about, and the body length it
/// declares (0 when none).
fn frame_error_at(e: &FrameError) -> (u64, u64) {
    match *e {
        FrameError::ZeroLength { offset } => (offset, 0),
        FrameError::TooLong { offset, length, .. } | FrameError::Skipped { offset, length, .. } => {
            (offset, length)
        }
    }
}

/// One problem of input `name` on stderr, after the trees before it are out.
fn report(name: &str, problem: &str, out: &mut impl Write) -> anyhow::Result<()> {
    out.flush()?;
    crate::logging::problem("decode", &format!("{name}: {problem}"));
    Ok(())
}
