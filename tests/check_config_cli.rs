//! `ocelot serve --check-config`: a start's checks and warnings without the start, for
//! configuration management (a dry run before a restart).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn check(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["serve", "--check-config"])
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// It says what a start would use and warns as a start would (the router's list, a web
/// port others reach advertising loopback), with the collector port taken by someone else
/// and no data directory: it opens neither.
#[test]
fn check_config_says_what_a_start_would_use_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector = taken.local_addr().unwrap();
    std::fs::write(
        work.join("ocelot.toml"),
        format!(
            "[collector]\nlisten = \"{collector}\"\n[web]\nlisten = \"0.0.0.0:8080\"\n\
             advertise = [\"{collector}\", \"10.0.0.6:{port}\"]\n[store]\ndir = \"prod-data\"\n",
            port = collector.port()
        ),
    )
    .unwrap();
    let out = check(&work, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with("The configuration is valid: ocelot "),
        "{stdout}"
    );
    for line in [
        format!("  config file  {}\n", work.join("ocelot.toml").display()),
        format!("  collector    {collector}\n"),
        "  web          0.0.0.0:8080\n".to_owned(),
        format!(
            "  router       {collector};10.0.0.6:{};\n",
            collector.port()
        ),
        format!("  data in      {}\n", work.join("prod-data").display()),
        "  alert rules  none\n".to_owned(),
    ] {
        assert!(stdout.contains(&line), "{line:?} in {stdout}");
    }
    assert!(
        stderr.contains("web.advertise also lists 10.0.0.6:")
            && stderr.contains("(failover, not load sharing)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the web port 0.0.0.0:8080 is reachable from other machines, but its router tells \
             CAT clients to send to {collector}, a loopback address"
        )),
        "{stderr}"
    );
    assert!(!work.join("prod-data").exists());
}

/// What would stop a start stops the check, with the start's message and exit code 1.
#[test]
fn check_config_fails_with_the_message_a_start_would_give() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    for (config, says) in [
        (
            "[collector]\nworker_queue_trees = 0\n",
            "checking config bad.toml: collector.worker_queue_trees = 0: it takes at least 1",
        ),
        (
            "[web]\nadvertise = [\"ocelot.local:2280\"]\n",
            "web.advertise: \"ocelot.local:2280\" is not an IPv4 ip:port",
        ),
        (
            "[alert]\nrules = \"rules.toml\"\n",
            "loading alert rules from rules.toml",
        ),
        ("[store]\ndir = \"a-file\"\n", "is not a directory"),
    ] {
        std::fs::write(work.join("rules.toml"), "not [rules\n").unwrap();
        std::fs::write(work.join("a-file"), "").unwrap();
        std::fs::write(work.join("bad.toml"), config).unwrap();
        let out = check(work, &["--config", "bad.toml"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{config}: {stderr}");
        assert!(stderr.contains(says), "{config}: {stderr}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    }
}

/// `--demo` keeps its data in `./ocelot-demo-data`, not production's `./ocelot-data`, and
/// names the rules it runs.
#[test]
fn the_demo_uses_a_data_directory_of_its_own_and_names_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let out = check(&work, &["--demo"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "  data in      {}\n",
            work.join("ocelot-demo-data").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("  alert rules  demo (4 built in)\n"),
        "{stdout}"
    );
    let out = check(&work, &["--demo", "--data", "elsewhere"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "  data in      {}\n",
            work.join("elsewhere").display()
        )),
        "{stdout}"
    );
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
}

/// Finding: the start warned of a web UI others reach without a login, and of baseline
/// rules looking further back than retention keeps, and `--check-config`, which is to
/// print the start's warnings, said neither.
#[test]
fn check_config_warns_of_no_login_and_of_retention_too_short_for_baseline_rules() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().canonicalize().unwrap();
    std::fs::write(
        work.join("rules.toml"),
        "[[rule]]\nid = \"drop\"\ndomain = \"shop\"\nreport = \"transaction\"\ntype = \"URL\"\n\
         measure = \"count\"\nbaseline = \"below\"\nmargin_percent = 50.0\nfor_minutes = 2\n",
    )
    .unwrap();
    std::fs::write(
        work.join("ocelot.toml"),
        "[collector]\nlisten = \"10.0.0.5:2280\"\n[web]\nlisten = \"0.0.0.0:8080\"\n\
         [alert]\nrules = \"rules.toml\"\n",
    )
    .unwrap();
    let out = check(&work, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "the web UI is reachable from other machines without a login: set web.username \
             and web.password"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("baseline rules look 29 days back but store.retention_days is 7"),
        "{stderr}"
    );
    // With a login and the retention the rules need: nothing to say.
    std::fs::write(
        work.join("ocelot.toml"),
        "[collector]\nlisten = \"10.0.0.5:2280\"\n[web]\nlisten = \"0.0.0.0:8080\"\n\
         username = \"ops\"\npassword = \"secret\"\n[store]\nretention_days = 29\n\
         [alert]\nrules = \"rules.toml\"\n",
    )
    .unwrap();
    let out = check(&work, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("without a login"), "{stderr}");
    assert!(!stderr.contains("baseline rules look"), "{stderr}");
}
