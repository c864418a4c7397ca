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
