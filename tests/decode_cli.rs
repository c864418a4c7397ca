//! `ocelot decode` as a user runs it: captured frames in, the expected JSON out; garbage in,
//! every good tree first, then a non-zero exit naming the file and the byte offset.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocol/tests/data/cat-c-client")
}

fn decode(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("decode")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// expected.json without the PT1-only raw time strings our JSON does not carry.
fn strip_raw_times(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        for key in ["time", "endTime", "endTimestamp"] {
            map.remove(key);
        }
        for child in map.values_mut() {
            strip_raw_times(child);
        }
    } else if let Some(items) = v.as_array_mut() {
        items.iter_mut().for_each(strip_raw_times);
    }
}

#[test]
fn decode_prints_the_expected_json_for_every_captured_frame() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("expected.json")).unwrap())
            .unwrap();
    for frame in expected["frames"].as_array().unwrap() {
        let file = vectors().join(frame["file"].as_str().unwrap());
        let (code, stdout, stderr) = decode(&["--pt1-timezone", "+00:00", file.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{stderr}");
        let got: Value = serde_json::from_str(stdout.trim()).unwrap();
        // The capture lists PT1 headers as written, an absent ID as `null`; our JSON writes
        // it "", as for NT1.
        let mut header = frame["header"].clone();
        for key in [
            "messageId",
            "parentMessageId",
            "rootMessageId",
            "sessionToken",
        ] {
            if header[key] == "null" {
                header[key] = Value::from("");
            }
        }
        let mut want = serde_json::json!({
            "format": frame["format"],
            "header": header,
            "root": frame["root"],
        });
        strip_raw_times(&mut want);
        assert_eq!(got, want, "{}", frame["file"]);
    }
}

/// A zone west of UTC, `-05:00`, was taken for a flag ("unexpected argument '-0'"); only
/// `--pt1-timezone=-05:00` worked.
#[test]
fn a_negative_pt1_timezone_is_read_as_given_either_way() {
    let file = vectors().join("text/0001.bin");
    let file = file.to_str().unwrap();
    let root_ms = |args: &[&str]| -> i64 {
        let (code, stdout, stderr) = decode(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        let tree: Value = serde_json::from_str(stdout.trim()).unwrap();
        tree["root"]["timestamp"].as_i64().unwrap()
    };
    let utc = root_ms(&["--pt1-timezone", "+00:00", file]);
    let apart = root_ms(&["--pt1-timezone", "-05:00", file]);
    assert_eq!(apart - utc, 5 * 3_600_000);
    assert_eq!(root_ms(&["--pt1-timezone=-05:00", file]), apart);
}

#[test]
fn decode_reads_a_whole_stream_one_line_per_tree() {
    let stream = vectors().join("streams/binary.stream");
    let (code, stdout, _) = decode(&[stream.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.lines().count(), 29);
}

#[test]
fn decode_prints_the_good_trees_then_fails_with_file_and_offset_on_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("capture.bin");
    let mut bytes = std::fs::read(vectors().join("binary/0001.bin")).unwrap();
    let good_len = bytes.len();
    bytes.extend_from_slice(&std::fs::read(vectors().join("binary/0002.bin")).unwrap());
    bytes.extend_from_slice(b"0000NT1 a crashing client wrote this");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, stdout, stderr) = decode(&[bad.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert_eq!(
        stdout.lines().count(),
        2,
        "both good trees are printed first"
    );
    let offset = good_len
        + std::fs::metadata(vectors().join("binary/0002.bin"))
            .unwrap()
            .len() as usize;
    assert!(stderr.contains("capture.bin"), "{stderr}");
    assert!(
        stderr.contains(&format!("byte offset {offset}")),
        "{stderr}"
    );
    assert!(stderr.contains("808464432"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn decode_of_a_truncated_file_says_the_frame_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.bin");
    let bytes = std::fs::read(vectors().join("binary/0001.bin")).unwrap();
    std::fs::write(&cut, &bytes[..100]).unwrap();
    let (code, stdout, stderr) = decode(&[cut.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("byte offset 0") && stderr.contains("truncated"),
        "{stderr}"
    );
}

#[test]
fn a_bad_or_missing_file_does_not_stop_the_files_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"0000NT1 garbage").unwrap();
    let missing = dir.path().join("missing.bin");
    let good = vectors().join("binary/0001.bin");
    let (code, stdout, stderr) = decode(&[
        bad.to_str().unwrap(),
        missing.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "any failed file fails the run");
    assert_eq!(
        stdout.lines().count(),
        1,
        "the good file after them is decoded"
    );
    assert!(
        stderr.contains("bad.bin") && stderr.contains("missing.bin"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::Read as _;
    use std::process::Stdio;
    let stream = vectors().join("streams/binary.stream");
    let files: Vec<&str> = std::iter::repeat_n(stream.to_str().unwrap(), 200).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("decode")
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line's worth, then close the pipe.
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Runs `ocelot decode ARGS` with `stdin` (a file) as its standard input; stdout and stderr
/// go to files, read back when it has exited.
fn decode_with_stdin(args: &[&str], stdin: &std::path::Path) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let status = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("decode")
        .args(args)
        .stdin(std::fs::File::open(stdin).unwrap())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .status()
        .unwrap();
    (
        status.code(),
        std::fs::read_to_string(stdout).unwrap(),
        std::fs::read_to_string(stderr).unwrap(),
    )
}

#[test]
fn decode_reads_standard_input_given_a_dash_or_no_file() {
    let stream = vectors().join("streams/binary.stream");
    for args in [&["-"][..], &[], &["--pt1-timezone", "+00:00", "-"]] {
        let (code, stdout, stderr) = decode_with_stdin(args, &stream);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stdout.lines().count(), 29, "{args:?}");
        assert_eq!(stderr, "", "{args:?}");
    }
    // Beside files, in the order given.
    let one = vectors().join("binary/0001.bin");
    let (code, stdout, _) = decode_with_stdin(&[one.to_str().unwrap(), "-"], &stream);
    assert_eq!(code, Some(0));
    assert_eq!(stdout.lines().count(), 30);
    let (_, alone, _) = decode_with_stdin(&[one.to_str().unwrap()], &stream);
    assert_eq!(stdout.lines().next(), alone.lines().next());
}

#[test]
fn decode_of_a_truncated_stdin_names_stdin_and_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.bin");
    let mut bytes = std::fs::read(vectors().join("binary/0001.bin")).unwrap();
    let good_len = bytes.len();
    bytes.extend_from_slice(&std::fs::read(vectors().join("binary/0002.bin")).unwrap()[..50]);
    std::fs::write(&input, &bytes).unwrap();
    let (code, stdout, stderr) = decode_with_stdin(&["-"], &input);
    assert_eq!(code, Some(1));
    assert_eq!(stdout.lines().count(), 1, "the whole tree before it");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ocelot decode: stdin: byte offset {good_len}: truncated frame (50 bytes left, \
             frame incomplete)"
        )
    );
}

#[test]
fn decode_prints_each_tree_as_soon_as_its_frame_arrives_on_stdin() {
    use std::io::Write as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A frame and a half, as a live capture (`nc -l 2280 | ocelot decode`) delivers them.
    let first = std::fs::read(vectors().join("binary/0001.bin")).unwrap();
    let second = std::fs::read(vectors().join("binary/0002.bin")).unwrap();
    input.write_all(&first).unwrap();
    input.write_all(&second[..10]).unwrap();
    input.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&stdout).unwrap().lines().count() < 1 {
        assert!(
            Instant::now() < deadline,
            "the first tree is not printed while the input stays open"
        );
        assert!(child.try_wait().unwrap().is_none(), "decode exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    input.write_all(&second[10..]).unwrap();
    drop(input);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&stdout).unwrap().lines().count(), 2);
    assert_eq!(std::fs::read_to_string(&stderr).unwrap(), "");
}

#[test]
fn a_cat_frame_over_the_size_cap_is_skipped_and_the_trees_after_it_decoded() {
    // 16 MiB + 1 byte of body behind an NT1 magic: too big, but a CAT frame, so the
    // collector steps over it; decode does the same, and says so.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.bin");
    let body_len = 16 * 1024 * 1024 + 1;
    let mut bytes = (body_len as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(b"NT1");
    bytes.resize(4 + body_len, b'x');
    let good = std::fs::read(vectors().join("binary/0001.bin")).unwrap();
    bytes.extend_from_slice(&good);
    std::fs::write(&input, &bytes).unwrap();
    let (code, stdout, stderr) = decode(&[input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "a skipped frame fails the run");
    assert_eq!(stdout.lines().count(), 1, "the tree after it: {stderr}");
    assert!(
        stderr.contains("big.bin: byte offset 0:") && stderr.contains("skipped"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Cut inside the big frame: truncated, not silently fine.
    std::fs::write(&input, &bytes[..1_000_000]).unwrap();
    let (code, stdout, stderr) = decode(&[input.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.contains("truncated frame"), "{stderr}");
}

/// A store data file given to `decode` was read as frames: "frame at offset 0 declares
/// 1329810500 bytes" (its magic as a length) said nothing of what the file is.
#[test]
fn decode_of_a_store_data_file_says_what_it_is_and_points_at_lookup() {
    use ocelot_protocol::{nt1, Header, Message, MessageId, MessageTree, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let hour = 498_703;
    let store = ocelot_store::Store::open(ocelot_store::StoreConfig {
        retention_days: 0,
        ..ocelot_store::StoreConfig::new(dir.path())
    })
    .unwrap();
    let id = MessageId::new("shop", 0x0a00_0001, hour, 1);
    let header = Header {
        domain: "shop".into(),
        message_id: id.to_string(),
        ..Default::default()
    };
    let root = Transaction::new("URL", "/", hour * 3_600_000);
    let tree = MessageTree::new(header, Message::Transaction(root));
    store.append(&id, nt1::encode_to_bytes(&tree)).unwrap();
    store.shutdown();
    let data = dir.path().join(format!("{hour}/shop/messages.dat"));
    let (code, stdout, stderr) = decode(&[data.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("messages.dat: this is a store data file"),
        "{stderr}"
    );
    assert!(stderr.contains("ocelot lookup <message id>"), "{stderr}");
    assert!(!stderr.contains("1329810500"), "{stderr}");
}
