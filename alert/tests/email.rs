//! Email over SMTP (feature `smtp`) against a fake relay on 127.0.0.1.
#![cfg(feature = "smtp")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ocelot_alert::{AlertKind, AlertLog, Notifier, RuleSet};

/// A minimal SMTP relay: accepts one message and sends (envelope, data).
fn relay() -> (u16, mpsc::Receiver<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        writer.write_all(b"220 relay.test ESMTP\r\n").unwrap();
        let mut envelope = Vec::new();
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                writer.write_all(b"250 relay.test\r\n").unwrap();
            } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
                envelope.push(command);
                writer.write_all(b"250 OK\r\n").unwrap();
            } else if upper == "DATA" {
                writer.write_all(b"354 go ahead\r\n").unwrap();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                writer.write_all(b"250 queued\r\n").unwrap();
            } else if upper == "QUIT" {
                writer.write_all(b"221 bye\r\n").unwrap();
                break;
            } else {
                writer.write_all(b"250 OK\r\n").unwrap();
            }
        }
        tx.send((envelope, data)).unwrap();
    });
    (port, rx)
}

#[test]
fn a_fired_alert_is_mailed_through_the_relay() {
    let (port, received) = relay();
    let rules = RuleSet::from_toml_str(
        &format!(
            r#"
            [[email]]
            name = "oncall"
            smtp = "127.0.0.1:{port}"
            from = "Ocelot <ocelot@example.com>"
            to = ["oncall@example.com"]
            timeout_ms = 2000
            retries = 0

            [[rule]]
            id = "logins-failing"
            domain = "shop"
            report = "event"
            type = "Login"
            measure = "fail"
            above = 2.0
            notify = ["oncall"]
            "#
        ),
        None,
    )
    .unwrap();
    let log = AlertLog::new();
    let notifier = Notifier::for_rules(&rules, log.clone());
    let mut event = fired_template();
    event.notify = vec!["oncall".into()];

    assert_eq!(notifier.notify(&event), 1);

    let (envelope, data) = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(envelope[0], "MAIL FROM:<ocelot@example.com>");
    assert_eq!(envelope[1], "RCPT TO:<oncall@example.com>");
    assert!(
        data.contains("Subject: [ocelot] FIRED logins-failing: shop event Login fail=5"),
        "{data}"
    );
    assert!(
        data.contains("2026-11-22T07:11Z  FIRED     logins-failing"),
        "{data}"
    );
    let attempts = log.snapshot().attempts;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].channel.as_str(), attempts[0].ok),
        ("email", true)
    );
}

fn fired_template() -> ocelot_alert::AlertEvent {
    ocelot_alert::AlertEvent {
        rule: "logins-failing".into(),
        kind: AlertKind::Fired,
        minute: 498_703 * 60 + 11,
        time: "2026-11-22T07:11Z".into(),
        scope: ocelot_alert::Scope {
            domain: "shop".into(),
            report: ocelot_alert::ReportKind::Event,
            type_: Some("Login".into()),
            name: None,
            ip: None,
        },
        measure: ocelot_alert::Measure::Fail,
        condition: "above 2".into(),
        value: Some(5.0),
        baseline: None,
        started_minute: 498_703 * 60 + 11,
        minutes: vec![],
        suppressed: false,
        link: "http://127.0.0.1:8080/event?domain=shop&date=2026112207&type=Login".into(),
        notify: vec![],
    }
}

#[test]
fn an_unreachable_relay_is_retried_and_given_up() {
    // A port nobody listens on: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rules = RuleSet::from_toml_str(
        &format!(
            "[[email]]\nname = \"oncall\"\nsmtp = \"127.0.0.1:{port}\"\nfrom = \"o@example.com\"\n\
             to = [\"a@example.com\"]\ntimeout_ms = 500\nretries = 1\nretry_backoff_ms = 10\n"
        ),
        None,
    )
    .unwrap();
    let log = AlertLog::new();
    let notifier = Notifier::for_rules(&rules, log.clone());
    let mut event = fired_template();
    event.notify = vec!["oncall".into()];
    assert_eq!(notifier.notify(&event), 0);
    let snapshot = log.snapshot();
    assert_eq!(snapshot.attempts.len(), 2);
    assert!(snapshot.attempts[0].gave_up);
    assert_eq!(snapshot.counters.notifications_given_up, 1);
}
