//! `ocelot decode`: captured frames to JSON lines.

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use ocelot_protocol::{decode_frame, DecodeOptions, FrameDecoder, TreeJson, WireFormat};

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

/// Decodes every file, printing each tree. A file stops at its first bad frame (what
/// follows cannot be framed again); the other files are still decoded, and the exit
/// status says whether any file failed.
pub(crate) fn run(files: &[PathBuf], pt1_utc_offset_seconds: i32) -> anyhow::Result<ExitCode> {
    let options = DecodeOptions {
        pt1_utc_offset_seconds,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for file in files {
        let problem = match std::fs::read(file) {
            Ok(bytes) => decode_bytes(&bytes, &options, &mut out)?.err(),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = problem {
            out.flush()?;
            eprintln!("ocelot decode: {}: {message}", file.display());
            failed = true;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the trees of one file's bytes. The outer error is a failure to write them; the
/// inner one a malformed frame, described with its byte offset.
fn decode_bytes(
    bytes: &[u8],
    options: &DecodeOptions,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Result<(), String>> {
    let mut decoder = FrameDecoder::default();
    let mut pos = 0;
    while pos < bytes.len() {
        let len = match decoder.next_frame_len(&bytes[pos..]) {
            Ok(Some(len)) => len,
            Ok(None) => {
                return Ok(Err(format!(
                    "byte offset {pos}: truncated frame ({} bytes left, frame incomplete)",
                    bytes.len() - pos
                )))
            }
            Err(e) => return Ok(Err(format!("byte offset {pos}: {e}"))),
        };
        let frame = &bytes[pos..pos + len];
        match decode_frame(frame, options) {
            Ok(tree) => {
                let format =
                    WireFormat::of_body(&frame[4..]).expect("decoded, so the magic is known");
                serde_json::to_writer(
                    &mut *out,
                    &TreeJson {
                        format,
                        tree: &tree,
                    },
                )?;
                out.write_all(b"\n")?;
            }
            Err(e) => return Ok(Err(format!("byte offset {pos}: {e}"))),
        }
        pos += len;
    }
    Ok(Ok(()))
}
