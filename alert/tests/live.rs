//! The live path: `Alerting::tick` with an injected clock stepping every 30 s through the
//! spike, the open hour read from memory over the stored history, notifications to a
//! local webhook, and the snapshot `GET /api/alerts` will serve.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use ocelot_alert::{
    AlertKind, AlertPhase, Alerting, MemoryHistory, Overlay, ReportKind, RuleSet, StoreHistory,
};

/// A webhook receiver answering 200 to `n` requests; sends each body.
fn receiver(n: usize) -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for _ in 0..n {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&mut stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            tx.send(serde_json::from_slice(&body).unwrap()).unwrap();
        }
    });
    (url, rx)
}

#[test]
fn the_live_loop_fires_once_the_third_bad_minute_settles_and_notifies_fire_and_resolve() {
    let (url, bodies) = receiver(2);
    let text =
        format!("{RULES}\n[[webhook]]\nname = \"ops\"\nurl = \"{url}\"\nretry_backoff_ms = 10\n")
            .replace("for_minutes = 3", "for_minutes = 3\nnotify = [\"ops\"]");
    let rules = RuleSet::from_toml_str(&text, None).unwrap();
    let mut alerting = Alerting::new(rules);
    let log = alerting.log();

    // The open hour comes from "the collector" (memory); history from the store.
    let mut live = MemoryHistory::new();
    live.insert(
        "shop",
        hour_at(SPIKE_DAY, 10),
        transaction_report(SPIKE_DAY, 10),
    );
    let history = Overlay(live, StoreHistory::new(store().clone()));

    let start_ms = minute_at(SPIKE_DAY, 10, 0) * 60_000;
    let mut fired_at = None;
    let mut resolved_at = None;
    for step in 0..=70u64 {
        let now_ms = start_ms + step * 30_000;
        if step == 0 {
            let wanted = alerting.wanted_reports(now_ms);
            // 10:00:00 with 10 s settle: the last settled minute is 09:58.
            assert_eq!(wanted.len(), 1);
            assert_eq!(wanted[0].kind, ReportKind::Transaction);
            assert_eq!(wanted[0].hour, hour_at(SPIKE_DAY, 9));
        }
        for event in alerting.tick(now_ms, &history) {
            match event.kind {
                AlertKind::Fired => fired_at = Some((now_ms, event.minute)),
                AlertKind::Resolved => resolved_at = Some((now_ms, event.minute)),
            }
        }
        if step == 45 {
            // 10:22:30: minute 10:22 has not settled (10:23:10), so still pending.
            assert_eq!(log.snapshot().rules[0].phase, AlertPhase::Pending);
        }
    }
    // Minute 10:22 settles at 10:23:10: the first tick after that is 10:23:30.
    assert_eq!(
        fired_at,
        Some((
            start_ms + (23 * 60 + 30) * 1000,
            minute_at(SPIKE_DAY, 10, 22)
        ))
    );
    assert_eq!(
        resolved_at,
        Some((
            start_ms + (26 * 60 + 30) * 1000,
            minute_at(SPIKE_DAY, 10, 25)
        ))
    );

    let fired = bodies.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        (fired["rule"].as_str(), fired["kind"].as_str()),
        (Some("pay-spike"), Some("fired"))
    );
    assert_eq!(fired["value"], 30.0);
    let resolved = bodies.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(resolved["kind"], "resolved");
    assert_eq!(resolved["startedMinute"], minute_at(SPIKE_DAY, 10, 20));

    // Sent by the notification thread: its record may follow the receiver's by a moment.
    wait_for(&log, |s| s.counters.notifications_sent == 2);
    let snapshot = log.snapshot();
    assert_eq!(snapshot.counters.fired, 1);
    assert_eq!(snapshot.counters.resolved, 1);
    assert_eq!(snapshot.counters.notifications_sent, 2);
    assert_eq!(snapshot.events[0].kind, AlertKind::Resolved, "newest first");
    let spike = &snapshot.rules[0];
    assert_eq!(spike.id, "pay-spike");
    assert_eq!(spike.phase, AlertPhase::Ok);
    assert_eq!(spike.last_time, "2026-10-29T10:33Z");
    assert_eq!(spike.last_value, Some(7.0));
    assert!(spike.last_baseline.is_some());
    // One day evaluated: the baseline of the domain was built once and then reused.
    assert_eq!(alerting.engine().baseline_builds(), 1);
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["rules"][0]["scope"]["name"], "/pay");
    assert_eq!(json["counters"]["notificationsSent"], 2);
}

#[test]
fn the_baseline_is_rebuilt_when_the_day_changes() {
    let rules = RuleSet::from_toml_str(RULES, None).unwrap();
    let mut alerting = Alerting::new(rules);
    let history = StoreHistory::new(store().clone());
    let before_midnight = minute_at(SPIKE_DAY, 23, 55) * 60_000;
    for step in 0..20u64 {
        alerting.tick(before_midnight + step * 60_000 + 15_000, &history);
    }
    assert_eq!(alerting.engine().baseline_builds(), 2);
    let drop_day = &alerting.log().snapshot().rules[1];
    let baseline = drop_day.last_baseline.unwrap();
    assert!(
        (baseline - 6.6).abs() < 1e-9,
        "the drop day's baseline, {baseline}"
    );
}

#[test]
fn a_domain_that_goes_silent_fires_its_drop_rule_only_when_the_hour_was_watched() {
    // Day 31 has no stored data; its baseline (days 3, 10, 17, 24) does.
    let silent_day = NORMAL_DAY + 1;
    let rules = RuleSet::from_toml_str(RULES, None).unwrap();
    let now_ms = (minute_at(silent_day, 3, 5) * 60 + 15) * 1000;
    let store_history = StoreHistory::new(store().clone());

    // Nobody watched the hour (Ocelot was down): no values, nothing fires.
    let mut alerting = Alerting::new(rules.clone());
    alerting.engine_mut().evaluate_minutes(
        minute_at(silent_day, 3, 0),
        minute_at(silent_day, 3, 3),
        &store_history,
    );
    assert_eq!(alerting.tick(now_ms, &store_history), vec![]);

    // The collector was running and saw nothing from `shop`: counts are 0 and the drop
    // rule fires after its 2 minutes.
    let mut live = MemoryHistory::new();
    live.cover(hour_at(silent_day, 3));
    let history = Overlay(live, StoreHistory::new(store().clone()));
    let mut alerting = Alerting::new(rules);
    let events = alerting.engine_mut().evaluate_minutes(
        minute_at(silent_day, 3, 0),
        minute_at(silent_day, 3, 4),
        &history,
    );
    let fired: Vec<_> = events
        .iter()
        .map(|e| (e.rule.as_str(), e.kind, e.minute))
        .collect();
    assert_eq!(
        fired,
        vec![("pay-drop", AlertKind::Fired, minute_at(silent_day, 3, 1))]
    );
    assert_eq!(events[0].value, Some(0.0));
}

/// A webhook URL whose server accepts connections and never answers; the connections stay
/// open until the returned sender is dropped.
fn hanging_receiver() -> (String, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (done_tx, done_rx) = mpsc::channel::<()>();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let mut open = Vec::new();
        while let Err(mpsc::TryRecvError::Empty) = done_rx.try_recv() {
            if let Ok((stream, _)) = listener.accept() {
                open.push(stream);
            }
            thread::sleep(Duration::from_millis(5));
        }
    });
    (url, done_tx)
}

/// A rule that fires on every minute without `shop` transactions, notifying `url`.
fn silent_shop_rules(url: &str, suppress_minutes: u32) -> RuleSet {
    let text = format!(
        "[[webhook]]\nname = \"ops\"\nurl = \"{url}\"\ntimeout_ms = 1000\nretries = 2\nretry_backoff_ms = 10\n\n\
         [[rule]]\nid = \"shop-silent\"\ndomain = \"shop\"\nreport = \"transaction\"\nmeasure = \"count\"\n\
         below = 1.0\nsuppress_minutes = {suppress_minutes}\nnotify = [\"ops\"]\n"
    );
    RuleSet::from_toml_str(&text, None).unwrap()
}

/// Waits up to 10 s for `done` to hold of the log's snapshot.
fn wait_for(log: &ocelot_alert::AlertLog, done: impl Fn(&ocelot_alert::AlertSnapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&log.snapshot()) {
        assert!(Instant::now() < deadline, "{:?}", log.snapshot().attempts);
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_webhook_that_never_answers_does_not_hold_up_evaluation() {
    let (url, _open) = hanging_receiver();
    let mut alerting = Alerting::new(silent_shop_rules(&url, 30));
    let log = alerting.log();
    // Every hour watched, no report of `shop`: every minute has count 0.
    let mut live = MemoryHistory::new();
    let start_ms = minute_at(NORMAL_DAY, 10, 0) * 60_000 + 15_000;
    for hour in hour_at(NORMAL_DAY, 9)..=hour_at(NORMAL_DAY, 10) {
        live.cover(hour);
    }

    // Three attempts of 1 s each await the event: evaluation goes on meanwhile.
    let started = Instant::now();
    let events = alerting.tick(start_ms, &live);
    assert_eq!(events.len(), 1);
    assert_eq!(alerting.tick(start_ms + 60_000, &live), vec![]);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
    assert_eq!(log.snapshot().rules[0].phase, AlertPhase::Firing);

    // The attempts are still made and recorded, the last one given up.
    wait_for(&log, |s| s.counters.notifications_given_up == 1);
    let attempts = log.snapshot().attempts;
    assert_eq!(attempts.len(), 3);
    for attempt in &attempts {
        assert_eq!(attempt.error.as_deref(), Some("timed out after 1000 ms"));
    }
}

#[test]
fn events_past_the_notification_queue_are_recorded_as_not_delivered() {
    let (url, _open) = hanging_receiver();
    // Suppression off and a queue of one: the thread is stuck on the first event, so of
    // the next events one waits and the others find the queue full.
    let mut alerting = Alerting::with_notification_queue(silent_shop_rules(&url, 0), 1);
    let log = alerting.log();
    let mut live = MemoryHistory::new();
    let hour = hour_at(NORMAL_DAY, 10);
    live.cover(hour);
    let mut shop = MemoryHistory::new();
    shop.cover(hour);
    shop.insert("shop", hour, transaction_report(NORMAL_DAY, 10));
    let mut events = Vec::new();
    for minute in 1..=6 {
        let now_ms = (minute_at(NORMAL_DAY, 10, minute) * 60 + 15) * 1000;
        // Silent, then sending, in turn: fired, resolved, fired...
        let history = if minute % 2 == 1 { &live } else { &shop };
        events.extend(alerting.tick(now_ms, history));
    }
    assert_eq!(events.len(), 6, "{events:?}");
    let dropped: Vec<_> = log
        .snapshot()
        .attempts
        .into_iter()
        .filter(|a| a.error.as_deref() == Some("notification queue full"))
        .collect();
    assert!(dropped.len() >= 4, "{dropped:?}");
    for attempt in &dropped {
        assert!(attempt.gave_up && !attempt.ok);
        assert_eq!((attempt.target.as_str(), attempt.attempt), ("ops", 0));
    }
}

#[test]
fn after_a_restart_a_firing_alert_is_not_notified_again_and_its_resolution_is() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alerts").join("state.json");
    let (url, bodies) = receiver(2);
    let hour = hour_at(NORMAL_DAY, 10);
    let mut silent = MemoryHistory::new();
    silent.cover(hour);
    let mut sending = MemoryHistory::new();
    sending.cover(hour);
    sending.insert("shop", hour, transaction_report(NORMAL_DAY, 10));
    // When minute 10:mm has settled.
    let settled = |mm: u64| ((minute_at(NORMAL_DAY, 10, mm) + 1) * 60 + 15) * 1000;

    // `shop` goes silent at 10:05: fired and notified; the state is saved.
    let mut before = Alerting::new(silent_shop_rules(&url, 30));
    before.restore_state(&state);
    let events = before.tick(settled(5), &silent);
    assert_eq!(events.len(), 1);
    assert!(matches!(
        before.save_state(settled(5)),
        ocelot_alert::Saved::Written { .. }
    ));
    let fired = bodies.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(fired["kind"], "fired");
    wait_for(&before.log(), |s| s.counters.notifications_sent == 1);
    before.save_state(settled(5));
    drop(before);

    // Restarted at 10:07:30, still silent: firing, without a new event or notification.
    let mut after = Alerting::new(silent_shop_rules(&url, 30));
    let log = after.log();
    let restored = after.restore_state(&state);
    assert!(
        matches!(
            restored,
            ocelot_alert::Restored::Loaded {
                rules: 1,
                rules_set_aside: 0,
                events: 1,
                attempts: 1
            }
        ),
        "{restored:?}"
    );
    after
        .engine_mut()
        .start_after((minute_at(NORMAL_DAY, 10, 7) * 60 + 30) * 1000);
    assert_eq!(log.snapshot().rules[0].phase, AlertPhase::Firing);
    assert_eq!(
        log.snapshot().attempts.len(),
        1,
        "the attempt before the restart"
    );
    for minute in 8..=10 {
        assert_eq!(after.tick(settled(minute), &silent), vec![]);
    }
    assert_eq!(log.snapshot().rules[0].phase, AlertPhase::Firing);

    // Traffic again at 10:11: resolved and notified, as the incident of 10:05.
    let events = after.tick(settled(11), &sending);
    assert_eq!(events.len(), 1);
    let resolved = bodies.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(resolved["kind"], "resolved");
    assert_eq!(resolved["startedMinute"], minute_at(NORMAL_DAY, 10, 5));
    wait_for(&log, |s| s.counters.notifications_sent == 1);
    let snapshot = log.snapshot();
    assert_eq!(snapshot.counters.fired, 0, "no fire since the restart");
    assert_eq!(
        snapshot.events.len(),
        2,
        "the fire before the restart and the resolution"
    );

    // Silent again at 10:12, inside the 30 minutes since the notified fire: recorded, not
    // sent (the receiver takes no third request).
    let events = after.tick(settled(12), &silent);
    assert_eq!(events.len(), 1);
    assert!(events[0].suppressed);
    assert!(bodies.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn stopping_sends_the_queued_notifications_and_saves_their_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alerts").join("state.json");
    let (url, bodies) = receiver(1);
    let hour = hour_at(NORMAL_DAY, 10);
    let mut silent = MemoryHistory::new();
    silent.cover(hour);
    let mut alerting = Alerting::new(silent_shop_rules(&url, 30));
    alerting.restore_state(&state);
    let now_ms = (minute_at(NORMAL_DAY, 10, 5) * 60 + 75) * 1000;
    assert_eq!(alerting.tick(now_ms, &silent).len(), 1);
    // Saved at once, as the serve loop does: the attempt is (most likely) not made yet.
    alerting.save_state(now_ms);

    let stopped = alerting.stop(now_ms, Duration::from_secs(10));
    assert_eq!(stopped.unsent, 0);
    assert!(!stopped.still_sending);
    assert!(!matches!(stopped.saved, ocelot_alert::Saved::Failed { .. }));
    assert_eq!(bodies.recv().unwrap()["kind"], "fired");
    let mut after = Alerting::new(silent_shop_rules(&url, 30));
    after.restore_state(&state);
    let attempts = after.log().snapshot().attempts;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].ok);
}

#[test]
fn stopping_records_the_notifications_it_cannot_wait_for_as_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alerts").join("state.json");
    let (url, _open) = hanging_receiver();
    let hour = hour_at(NORMAL_DAY, 10);
    let mut silent = MemoryHistory::new();
    silent.cover(hour);
    let mut shop = MemoryHistory::new();
    shop.cover(hour);
    shop.insert("shop", hour, transaction_report(NORMAL_DAY, 10));
    // Suppression off: fired, resolved, fired, each notified. The first is being sent
    // (three attempts of a second each) when the server stops; the others wait.
    let mut alerting = Alerting::new(silent_shop_rules(&url, 0));
    alerting.restore_state(&state);
    let mut now_ms = 0;
    for (minute, history) in [(1, &silent), (2, &shop), (3, &silent)] {
        now_ms = (minute_at(NORMAL_DAY, 10, minute) * 60 + 75) * 1000;
        assert_eq!(alerting.tick(now_ms, history).len(), 1);
        alerting.save_state(now_ms);
    }

    let started = Instant::now();
    let stopped = alerting.stop(now_ms, Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_millis(900));
    // All three, as the state file keeps them: the one being sent too.
    assert_eq!(stopped.unsent, 3);
    assert!(stopped.still_sending);
    assert!(matches!(stopped.saved, ocelot_alert::Saved::Written { .. }));

    // After the restart the Alerts page says which notifications were not sent at the
    // stop (the one being sent included: it had no record), and they are sent now (the webhook answers again), the one that was being
    // sent first: a rule restored as firing is not notified again, so a page dropped at
    // the stop would never go out.
    let (url, bodies) = receiver(3);
    let mut after = Alerting::new(silent_shop_rules(&url, 0));
    after.restore_state(&state);
    let unsent: Vec<_> = after
        .log()
        .snapshot()
        .attempts
        .into_iter()
        .filter(|a| a.error.as_deref() == Some(ocelot_alert::NOT_SENT_AT_STOP))
        .map(|a| (a.kind, a.attempt, a.gave_up))
        .collect();
    assert_eq!(
        unsent,
        vec![
            (AlertKind::Fired, 0, false),
            (AlertKind::Resolved, 0, false),
            (AlertKind::Fired, 0, false)
        ],
        "newest first"
    );
    let kinds: Vec<_> = (0..3)
        .map(|_| bodies.recv_timeout(Duration::from_secs(5)).unwrap())
        .map(|body| (body["kind"].clone(), body["minute"].clone()))
        .collect();
    let at = |minute| minute_at(NORMAL_DAY, 10, minute);
    assert_eq!(
        kinds,
        vec![
            ("fired".into(), at(1).into()),
            ("resolved".into(), at(2).into()),
            ("fired".into(), at(3).into()),
        ]
    );
    wait_for(&after.log(), |s| s.counters.notifications_sent == 3);
}

#[test]
fn a_page_not_yet_sent_when_the_process_dies_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alerts").join("state.json");
    let (dead_url, _open) = hanging_receiver();
    let hour = hour_at(NORMAL_DAY, 10);
    let mut silent = MemoryHistory::new();
    silent.cover(hour);
    let now_ms = (minute_at(NORMAL_DAY, 10, 5) * 60 + 75) * 1000;
    // Fired and saved as the serve loop does after each tick; the webhook is slow, and
    // the process is killed (OOM, kill -9) before the page went out.
    let mut before = Alerting::new(silent_shop_rules(&dead_url, 30));
    before.restore_state(&state);
    assert_eq!(before.tick(now_ms, &silent).len(), 1);
    assert!(matches!(
        before.save_state(now_ms),
        ocelot_alert::Saved::Written { .. }
    ));
    std::mem::forget(before);

    // Restarted: the rule is restored as firing, so only the saved page can tell anyone.
    let (url, bodies) = receiver(1);
    let mut after = Alerting::new(silent_shop_rules(&url, 30));
    after.restore_state(&state);
    assert_eq!(after.log().snapshot().rules[0].phase, AlertPhase::Firing);
    let fired = bodies
        .recv_timeout(Duration::from_secs(5))
        .expect("the page that never went out is sent after the restart");
    assert_eq!(fired["kind"], "fired");
    assert_eq!(fired["minute"], minute_at(NORMAL_DAY, 10, 5));
    wait_for(&after.log(), |s| s.counters.notifications_sent == 1);
    // Sent: the next state file has nothing left to send.
    after.save_state(now_ms + 60_000);
    let text = std::fs::read_to_string(&state).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["unsent"], serde_json::json!([]), "{text}");
}
