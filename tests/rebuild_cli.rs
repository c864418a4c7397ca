//! `ocelot rebuild-reports`: a sealed hour's reports counted again from the stored trees,
//! with the server stopped (leaving the lock file as the last server wrote it), or by the
//! running server, which the command asks.

use std::process::Command;

mod common;

use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};

/// 2026-11-22 07:00 UTC: long sealed.
const HOUR: u64 = 498_703;

fn run(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Three trees of `shop` stored in `HOUR` in `data`, and a configuration in `dir` that
/// keeps them (the hour is older than the default retention) and names `data`.
fn stored_hour(dir: &std::path::Path, data: &std::path::Path) {
    let store = ocelot_store::Store::open(ocelot_store::StoreConfig {
        retention_days: 0,
        ..ocelot_store::StoreConfig::new(data)
    })
    .unwrap();
    for seq in 1..=3 {
        let id = format!("shop-0a000001-{HOUR}-{seq}").parse().unwrap();
        store.append(&id, frame(seq)).unwrap();
    }
    store.shutdown();
    drop(store);
    std::fs::write(
        dir.join("ocelot.toml"),
        "[store]\ndir = \"data\"\nretention_days = 0\n",
    )
    .unwrap();
}

/// A `URL /pay` tree of `shop`, message ID sequence `seq`.
fn frame(seq: u64) -> bytes::Bytes {
    let mut root = Transaction::new("URL", "/pay", HOUR * 3_600_000 + seq * 1_000);
    root.duration_us = 2_000;
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("shop-0a000001-{HOUR}-{seq}"),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

#[test]
fn a_sealed_hour_is_counted_again_from_its_stored_trees() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stored_hour(dir.path(), &data);
    std::fs::write(data.join(".lock"), "4242\n").unwrap();

    let (code, out, err) = run(
        &["rebuild-reports", "--hour", "2026112207", "--dry-run"],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("Hour 2026112207: 3 trees counted"), "{out}");
    assert!(out.contains("  shop  "), "{out}");
    assert!(out.ends_with("Dry run: nothing written.\n"), "{out}");
    assert!(!data.join(format!("{HOUR}/shop/reports")).exists());

    let (code, out, err) = run(&["rebuild-reports", "--hour", "2026112207"], dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Wrote "), "{out}");
    let report =
        std::fs::read(data.join(format!("{HOUR}/shop/reports/transaction.report"))).unwrap();
    let report: ocelot_analyzer::TransactionReport = serde_json::from_slice(&report).unwrap();
    let view = report.view(&ocelot_analyzer::ViewQuery::default());
    assert_eq!(view.types[0].figures.count, 3);
    // The last server's pid is still the lock file's: its clean stop counts at its start.
    assert_eq!(
        std::fs::read_to_string(data.join(".lock")).unwrap(),
        "4242\n"
    );

    // The State report says 5 trees of shop were received, the store holds 3: its reports
    // are kept (rebuilt ones would count less), unless forced.
    let mut state = ocelot_analyzer::StateReport::new(HOUR);
    state.record_trees(HOUR * 3_600_000 + 60_000, "shop", 5, 500);
    let state_dir = data.join(format!("{HOUR}/{}/reports", ocelot_analyzer::STATE_DOMAIN));
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        state_dir.join("state.report"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();
    let transaction_report = data.join(format!("{HOUR}/shop/reports/transaction.report"));
    std::fs::remove_file(&transaction_report).unwrap();
    let (code, out, err) = run(&["rebuild-reports", "--hour", "2026112207"], dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("shop           3  (5 received by the State report)"),
        "{out}"
    );
    assert!(
        out.contains("Kept the reports of shop: the store holds fewer"),
        "{out}"
    );
    assert!(!transaction_report.exists(), "kept as it was: {out}");
    let (code, out, err) = run(
        &["rebuild-reports", "--hour", "2026112207", "--force"],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.contains("Kept"), "{out}");
    assert!(transaction_report.exists(), "{out}");

    // The hour still open, and a malformed one: refused before anything is opened.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let current = ocelot_analyzer::hour_label(now / 3_600_000);
    let (code, _, err) = run(&["rebuild-reports", "--hour", &current], dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is still open"), "{err}");
    let (code, _, err) = run(&["rebuild-reports", "--hour", "2026-11-22"], dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--hour 2026-11-22"), "{err}");
}

#[test]
fn a_running_server_rebuilds_when_the_command_asks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stored_hour(dir.path(), &data);
    // As a clean stop leaves the directory: else the start takes the newest closed hour for
    // one the collector was down in after a crash, and rebuilds it by itself.
    std::fs::write(data.join(".lock"), "4242\n").unwrap();
    std::fs::write(data.join(".clean-stop"), "pid 4242\n").unwrap();
    let server = common::Server::start_with(
        &data,
        common::free_port(),
        common::free_port(),
        false,
        "[store]\nretention_days = 0\n",
    );
    let path = "/api/transaction?domain=shop&hour=2026112207";
    let before = server.get(path);
    assert!(
        !before.1.contains("/pay"),
        "no report before the rebuild: {before:?}"
    );

    let (code, out, err) = run(&["rebuild-reports", "--hour", "2026112207"], dir.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("Hour 2026112207: 3 trees counted"), "{out}");
    let pid = server.child.id();
    assert!(
        out.ends_with(&format!("(Counted by the running server, pid {pid}.)\n")),
        "{out}"
    );
    let answer = server.json(path).expect("the rebuilt report");
    assert_eq!(answer["types"][0]["count"], 3, "{answer}");
    // Nothing left behind: the answer was taken.
    let left: Vec<_> = std::fs::read_dir(data.join("rebuild-requests"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // An hour the server still counts: refused before it is asked.
    let now = common::now_ms();
    let current = ocelot_analyzer::hour_label(now / 3_600_000);
    let (code, _, err) = run(&["rebuild-reports", "--hour", &current], dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is still open"), "{err}");
    server.stop();
}
