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
        stderr.contains("no data directory at /srv/nowhere/ocelot (give"),
        "{stderr}"
    );
    // --data wins over the configuration.
    let (_, stderr) = run(
        &["lookup", id, "--config", config, "--data", "other"],
        dir.path(),
    );
    assert!(stderr.contains("no data directory at other "), "{stderr}");
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
    let configured = root_ms(&["lookup", id]);
    let beijing = root_ms(&["lookup", id, "--pt1-timezone", "+08:00"]);
    assert_eq!(configured - beijing, 8 * 3_600_000);
}
