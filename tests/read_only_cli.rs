//! `ocelot lookup` and `ocelot alert replay` read the data directory the server writes: the
//! one `--data` names, else the configuration's `store.dir`, found as `serve` finds it.

use std::process::Command;

fn run(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn lookup_and_replay_open_the_configured_store_dir_unless_data_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prod.toml");
    std::fs::write(&config, "[store]\ndir = \"/srv/nowhere/ocelot\"\n").unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    let config = config.to_str().unwrap();
    let id = "shop-0a000001-498703-1";
    let (code, stderr) = run(&["lookup", id, "--config", config], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no data directory: /srv/nowhere/ocelot (give"),
        "{stderr}"
    );
    // --data wins over the configuration.
    let (_, stderr) = run(
        &["lookup", id, "--config", config, "--data", "other"],
        dir.path(),
    );
    assert!(stderr.contains("no data directory: other "), "{stderr}");
    // A file is there, but is no directory.
    let (_, stderr) = run(&["lookup", id, "--data", "prod.toml"], dir.path());
    assert!(stderr.contains("not a directory: prod.toml "), "{stderr}");
    let replay = [
        "alert",
        "replay",
        "--rules",
        "rules.toml",
        "--from",
        "2026120600",
        "--to",
        "2026120601",
        "--config",
        config,
    ];
    let (code, stderr) = run(&replay, dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("/srv/nowhere/ocelot"), "{stderr}");
    // A configuration that cannot be read is said, not replaced by the defaults.
    let (code, stderr) = run(&["lookup", id, "--config", "missing.toml"], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("reading config missing.toml"), "{stderr}");
}

/// PT1 frames carry wall-clock times without a zone: `lookup` reads them at the zone the
/// server reads them at (the configuration's `collector.pt1_utc_offset_seconds`) unless
/// `--pt1-timezone` says otherwise, so it prints the times the server's pages show.
#[test]
fn lookup_reads_pt1_times_at_the_configured_zone_unless_told_otherwise() {
    let vectors = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("protocol/tests/data/cat-c-client");
    let frame = std::fs::read(vectors.join("text/0001.bin")).unwrap();
    let id = "catgen-c0000202-498703-70121";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ocelot_store::Store::open(ocelot_store::StoreConfig {
        retention_days: 0,
        ..ocelot_store::StoreConfig::new(&data)
    })
    .unwrap();
    store.append(&id.parse().unwrap(), frame.into()).unwrap();
    store.shutdown();
    drop(store);
    std::fs::write(
        dir.path().join("ocelot.toml"),
        "[store]\ndir = \"data\"\n\n[collector]\npt1_utc_offset_seconds = 0\n",
    )
    .unwrap();
    let root_ms = |args: &[&str]| -> i64 {
        let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        tree["root"]["timestamp"]
            .as_i64()
            .unwrap_or_else(|| panic!("{tree}"))
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["lookup", id])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The same JSON as /api/message: the format, and an absent ID as "" (PT1 wrote `null`).
    assert_eq!(tree["format"], "PT1", "{tree}");
    assert_eq!(tree["header"]["parentMessageId"], "", "{tree}");
    assert_eq!(tree["header"]["sessionToken"], "", "{tree}");
    let configured = root_ms(&["lookup", id]);
    let beijing = root_ms(&["lookup", id, "--pt1-timezone", "+08:00"]);
    assert_eq!(configured - beijing, 8 * 3_600_000);
    // A zone west of UTC, as a separate argument too (it was taken for a flag).
    let new_york = root_ms(&["lookup", "--pt1-timezone", "-05:00", id]);
    assert_eq!(new_york - configured, 5 * 3_600_000);
    assert_eq!(root_ms(&["lookup", id, "--pt1-timezone=-05:00"]), new_york);
}

/// An ID of an hour older than every hour the store keeps is gone for good: `lookup` says
/// retention deleted it, as LogView's 404 does, not only that the ID is not there.
#[test]
fn lookup_of_an_id_older_than_every_hour_kept_says_retention_deleted_it() {
    let vectors = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("protocol/tests/data/cat-c-client");
    let frame = std::fs::read(vectors.join("text/0001.bin")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ocelot_store::Store::open(ocelot_store::StoreConfig {
        retention_days: 0,
        ..ocelot_store::StoreConfig::new(&data)
    })
    .unwrap();
    let kept = "catgen-c0000202-498703-70121";
    store.append(&kept.parse().unwrap(), frame.into()).unwrap();
    store.shutdown();
    drop(store);
    let (code, stderr) = run(
        &["lookup", "catgen-c0000202-400000-1", "--data", "data"],
        dir.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "ocelot lookup: no message catgen-c0000202-400000-1 in data. That hour is older \
             than every hour this store keeps (the oldest is 2026-11-22 07:00 UTC): retention \
             deletes old hours"
        ),
        "{stderr}"
    );
    // An ID of a kept hour that is not there is just not there.
    let (code, stderr) = run(
        &["lookup", "catgen-c0000202-498703-1", "--data", "data"],
        dir.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("retention"), "{stderr}");
}

/// A stderr nobody reads any more (a closed pipe) is no reason to panic (exit 101): the exit
/// code still says what went wrong, as scripts and cron read it.
#[test]
fn status_and_lookup_keep_their_exit_codes_when_stderr_is_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for (args, code) in [
        (vec!["status", "--url", url.as_str()], 2),
        (vec!["lookup", "not-an-id", "--data", "."], 2),
        (vec!["lookup", "shop-0a000001-498703-1", "--data", "."], 1),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocelot"))
            .args(&args)
            // A filter that does not parse is said on stderr too.
            .env("RUST_LOG", "shop=[")
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        assert_eq!(child.wait().unwrap().code(), Some(code), "{args:?}");
    }
}
