//! The webhook against local HTTP receivers on 127.0.0.1: the body, a retry after a 500,
//! a timeout against a receiver that never answers, and the log of every attempt.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ocelot_alert::{
    AlertEvent, AlertKind, AlertLog, Measure, MinutePoint, Notifier, ReportKind, Scope,
    WebhookConfig,
};

/// One received request: (request line, headers lowercased, body).
type Request = (String, Vec<(String, String)>, Vec<u8>);

fn read_request(stream: &mut TcpStream) -> Request {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (line.trim_end().to_owned(), headers, body)
}

/// A receiver answering the given statuses in turn; sends each request it reads.
fn receiver(statuses: Vec<u16>) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/ocelot", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for status in statuses {
            let (mut stream, _) = listener.accept().unwrap();
            let request = read_request(&mut stream);
            let reply =
                format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            stream.write_all(reply.as_bytes()).unwrap();
            tx.send(request).unwrap();
        }
    });
    (url, rx)
}

fn event(notify: &str) -> AlertEvent {
    let point = |minute: u64, value: f64| MinutePoint {
        minute,
        time: ocelot_alert::MinuteLabel(minute).to_string(),
        value: Some(value),
        baseline: Some(7.0),
    };
    AlertEvent {
        rule: "pay-spike".into(),
        kind: AlertKind::Fired,
        minute: 29_922_222,
        time: ocelot_alert::MinuteLabel(29_922_222).to_string(),
        scope: Scope {
            domain: "shop".into(),
            report: ReportKind::Transaction,
            type_: Some("URL".into()),
            name: Some("/pay".into()),
            ip: None,
        },
        measure: Measure::Count,
        condition: "above baseline by more than 100% and 5 for 2 minutes".into(),
        value: Some(30.0),
        baseline: Some(7.0),
        started_minute: 29_922_221,
        minutes: vec![point(29_922_221, 28.0), point(29_922_222, 30.0)],
        suppressed: false,
        link: "http://127.0.0.1:8080/transaction?domain=shop&date=2026112207".into(),
        notify: vec![notify.into()],
    }
}

fn webhook(url: &str, timeout_ms: u64, retries: u32) -> WebhookConfig {
    WebhookConfig {
        timeout_ms,
        retries,
        retry_backoff_ms: 10,
        ..WebhookConfig::new("ops", url)
    }
}

#[test]
fn the_webhook_posts_the_alert_as_json_and_retries_after_a_server_error() {
    let (url, requests) = receiver(vec![500, 204]);
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, 2_000, 2)], log.clone());

    assert_eq!(notifier.notify(&event("ops")), 1);

    let (line, headers, body) = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(line, "POST /hooks/ocelot HTTP/1.1");
    assert!(headers.contains(&("content-type".into(), "application/json".into())));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["rule"], "pay-spike");
    assert_eq!(json["kind"], "fired");
    assert_eq!(json["scope"]["domain"], "shop");
    assert_eq!(json["scope"]["report"], "transaction");
    assert_eq!(json["scope"]["type"], "URL");
    assert_eq!(json["scope"]["name"], "/pay");
    assert_eq!(json["measure"], "count");
    assert_eq!(json["value"], 30.0);
    assert_eq!(json["baseline"], 7.0);
    assert_eq!(json["time"], "2026-11-22T07:42Z");
    assert_eq!(json["minutes"][0]["time"], "2026-11-22T07:41Z");
    assert_eq!(json["minutes"][0]["value"], 28.0);
    assert_eq!(json["minutes"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["link"],
        "http://127.0.0.1:8080/transaction?domain=shop&date=2026112207"
    );
    // The retry carries the same body.
    let (_, _, retried) = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(retried, body);

    let snapshot = log.snapshot();
    let attempts: Vec<_> = snapshot
        .attempts
        .iter()
        .map(|a| (a.attempt, a.ok, a.status, a.error.clone(), a.gave_up))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (2, true, Some(204), None, false),
            (1, false, Some(500), Some("HTTP 500".into()), false),
        ],
        "newest first"
    );
    assert_eq!(snapshot.counters.notifications_sent, 1);
    assert_eq!(snapshot.counters.notification_failures, 1);
    assert_eq!(snapshot.counters.notifications_given_up, 0);
}

/// `url = "http://127.0.0.1:PORT/my hook/ü"` was sent raw (`POST /my hook/ü HTTP/1.1`),
/// which servers refuse as a bad request line.
#[test]
fn a_path_with_a_space_and_a_non_ascii_letter_is_sent_percent_encoded() {
    let (url, requests) = receiver(vec![204]);
    let url = url.replace("/hooks/ocelot", "/my hook/\u{fc}?team=on call");
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, 2_000, 0)], log.clone());
    assert_eq!(notifier.notify(&event("ops")), 1);
    let (line, _, _) = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(line, "POST /my%20hook/%C3%BC?team=on%20call HTTP/1.1");
    assert_eq!(log.snapshot().attempts[0].status, Some(204));
}

#[test]
fn a_receiver_that_never_answers_times_out_and_is_given_up_after_the_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    // Accepts and reads, never answers; keeps the connections open until the test ends.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let hanger = thread::spawn(move || {
        let mut open = Vec::new();
        listener.set_nonblocking(true).unwrap();
        while done_rx.try_recv().is_err() {
            if let Ok((stream, _)) = listener.accept() {
                open.push(stream);
            }
            thread::sleep(Duration::from_millis(5));
        }
        open.len()
    });
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, 200, 1)], log.clone());

    let started = Instant::now();
    assert_eq!(notifier.notify(&event("ops")), 0);
    let elapsed = started.elapsed();
    done_tx.send(()).unwrap();
    assert_eq!(hanger.join().unwrap(), 2, "one attempt plus one retry");

    // Two attempts of 200 ms plus a 10 ms back-off; far below the default 5 s.
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    let snapshot = log.snapshot();
    assert_eq!(snapshot.attempts.len(), 2);
    for attempt in &snapshot.attempts {
        assert!(!attempt.ok);
        assert_eq!(attempt.error.as_deref(), Some("timed out after 200 ms"));
    }
    assert!(snapshot.attempts[0].gave_up);
    assert_eq!(snapshot.counters.notification_failures, 2);
    assert_eq!(snapshot.counters.notifications_given_up, 1);
}

#[test]
fn suppressed_events_are_not_sent() {
    let (url, requests) = receiver(vec![204]);
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, 2_000, 0)], log.clone());
    let mut suppressed = event("ops");
    suppressed.suppressed = true;
    assert_eq!(notifier.notify(&suppressed), 0);
    assert!(log.snapshot().attempts.is_empty());
    // The receiver is still waiting for its one request: send a normal event.
    assert_eq!(notifier.notify(&event("ops")), 1);
    assert!(requests.recv_timeout(Duration::from_secs(5)).is_ok());
}
