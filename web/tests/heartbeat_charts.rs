//! The heartbeat page charts what a machine's series say: totals as their increase per
//! minute, system series first, all-zero series in a line instead of charts.

mod common;

use std::sync::Arc;

use ocelot_analyzer::{
    EventReport, HeartbeatReport, MetricReport, ProblemReport, StateReport, TransactionReport,
};
use ocelot_protocol::{Header, Leaf, Message, MessageTree};
use ocelot_web::{router, AppState, BoxFuture, MemoryReports, ReportSource};

const HOUR: u64 = common::HOUR;
const HOUR_START_MS: u64 = HOUR * 3_600_000;

/// The heartbeat our SDK sends (client-sdk/src/heartbeat.rs) at `minute`: CPU time, bytes
/// and trees sent only grow; memory and threads go up and down; drops stay 0.
fn sdk_heartbeat(minute: u64) -> MessageTree {
    sdk_heartbeat_of("10.0.9.1", minute)
}

/// [`sdk_heartbeat`] of the machine `ip`.
fn sdk_heartbeat_of(ip: &str, minute: u64) -> MessageTree {
    sdk_heartbeat_in(HOUR, ip, minute)
}

/// [`sdk_heartbeat_of`] at `minute` of `hour`.
fn sdk_heartbeat_in(hour: u64, ip: &str, minute: u64) -> MessageTree {
    let details = [
        ("system.process", "cpu.time.ms", 5_000 + minute * 6_000),
        (
            "system.process",
            "memory.rss.bytes",
            40_000_000 + minute % 3 * 1_000_000,
        ),
        ("system.process", "threads", 30 + minute % 2),
        ("system.process", "fds.open", 37),
        ("ocelot.client", "trees.produced", minute * 200),
        ("ocelot.client", "trees.sent", minute * 200),
        ("ocelot.client", "trees.dropped.queue_full", 0),
        ("ocelot.client", "trees.dropped.send_failed", 0),
        ("ocelot.client", "queue.depth", 0),
        ("ocelot.client", "bytes.sent", minute * 70_000),
        ("ocelot.client", "send.failures", 0),
    ];
    let mut xml = String::from("<status>");
    for extension in ["system.process", "ocelot.client"] {
        xml.push_str(&format!("<extension id=\"{extension}\">"));
        for (_, id, value) in details.iter().filter(|d| d.0 == extension) {
            xml.push_str(&format!("<extensionDetail id=\"{id}\" value=\"{value}\"/>"));
        }
        xml.push_str("</extension>");
    }
    xml.push_str("</status>");
    let ts = hour * 3_600_000 + minute * 60_000 + 5_000;
    MessageTree::new(
        Header {
            domain: "sdk-app".to_owned(),
            hostname: "sdk-1".to_owned(),
            ip_address: ip.to_owned(),
            ..Header::default()
        },
        Message::Heartbeat(Leaf::new("Heartbeat", ip, "0", ts, xml)),
    )
}

async fn heartbeat_page() -> String {
    let mut reports = MemoryReports::new(common::NOW_MS);
    for minute in 0..40 {
        reports.add_tree(&sdk_heartbeat(minute));
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    common::text(response).await
}

/// Records the heartbeat reports asked for.
struct Recording {
    inner: MemoryReports,
    heartbeats: std::sync::Mutex<Vec<(String, u64)>>,
}

impl ReportSource for Recording {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn hours(&self) -> BoxFuture<'_, Vec<u64>> {
        self.inner.hours()
    }
    fn domains(&self, hour: u64) -> BoxFuture<'_, Vec<String>> {
        self.inner.domains(hour)
    }
    fn transaction(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        self.inner.transaction(domain, hour)
    }
    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<EventReport>>> {
        self.inner.event(domain, hour)
    }
    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<ProblemReport>>> {
        self.inner.problem(domain, hour)
    }
    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<HeartbeatReport>>> {
        self.heartbeats.lock().unwrap().push((domain.clone(), hour));
        self.inner.heartbeat(domain, hour)
    }
    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MetricReport>>> {
        self.inner.metric(domain, hour)
    }
    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>> {
        self.inner.state(hour)
    }
}

/// The page asked for the hour before's report of any domain it was given, `/h?domain=../x`
/// too; the server's store, asked for a sealed hour's report of a name that cannot be a
/// domain, logged a warning and counted an unreadable report each time. Such a domain has
/// no report: the page asks for none of the hour before, and still answers its 404.
#[tokio::test]
async fn a_domain_that_cannot_name_a_report_asks_for_no_report_of_the_hour_before() {
    let mut inner = MemoryReports::new(common::NOW_MS);
    inner.add_tree(&sdk_heartbeat(1));
    let reports = Arc::new(Recording {
        inner,
        heartbeats: std::sync::Mutex::default(),
    });
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(reports.clone()));
    for domain in ["..%2F..%2Fetc", "%00", "a%2Fb"] {
        let response = common::get(app.clone(), &format!("/h?domain={domain}")).await;
        assert_eq!(response.status(), 404, "{domain}");
    }
    let asked = reports.heartbeats.lock().unwrap().clone();
    assert!(
        asked.iter().all(|(_, hour)| *hour == HOUR),
        "asked for the hour before: {asked:?}"
    );
    // A domain that can have reports is still looked up in the hour before.
    let response = common::get(app, "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    assert!(reports
        .heartbeats
        .lock()
        .unwrap()
        .contains(&("sdk-app".to_owned(), HOUR - 1)));
}

/// The chart titles, in page order.
fn titles(html: &str) -> Vec<&str> {
    html.split("<svg class=\"chart\"")
        .skip(1)
        .map(|svg| {
            let label = svg.split("aria-label=\"").nth(1).unwrap();
            let label = &label[..label.find('"').unwrap()];
            // The label ends with the unit the drawn title is followed by.
            match svg.split("<tspan class=\"chart-unit\">").nth(1) {
                Some(unit) => label
                    .strip_suffix(&unit[..unit.find('<').unwrap()])
                    .unwrap_or(label),
                None => label,
            }
        })
        .collect()
}

#[tokio::test]
async fn sdk_heartbeats_chart_system_series_first_and_totals_per_minute() {
    let html = heartbeat_page().await;
    assert_eq!(
        titles(&html),
        [
            "system.process.cpu.time.ms as CPU",
            "system.process.memory.rss.bytes",
            "system.process.threads",
            "system.process.fds.open",
            "ocelot.client.bytes.sent /min",
            "ocelot.client.trees.produced /min",
            "ocelot.client.trees.sent /min",
        ]
    );
    // 6 000 ms of CPU a minute is 10 % of a core; 70 000 bytes a minute is 68.4 KiB.
    assert!(html.contains("as CPU at :07: 10%</title>"), "{html}");
    assert!(html.contains("bytes.sent /min at :07: 68.4 KiB</title>"));
}

/// The unit a chart's title is followed by.
fn unit_of<'a>(html: &'a str, title: &str) -> &'a str {
    let svg = html
        .split("<svg class=\"chart\"")
        .find(|svg| svg.contains(&format!("aria-label=\"{title} (")))
        .unwrap_or_else(|| panic!("a chart of {title}"));
    let unit = svg
        .split("<tspan class=\"chart-unit\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no unit on {title}: {svg}"));
    &unit[..unit.find('<').unwrap()]
}

#[tokio::test]
async fn memory_is_charted_in_mib_and_other_charts_say_their_unit() {
    let html = heartbeat_page().await;
    // 41 000 000 bytes of RSS at minute 7 (7 % 3 = 1): 39.1 MiB.
    assert_eq!(unit_of(&html, "system.process.memory.rss.bytes"), " (MiB)");
    assert!(
        html.contains("system.process.memory.rss.bytes at :07: 39.1 MiB</title>"),
        "{html}"
    );
    assert!(html.contains(">40</text>"), "a round tick of MiB");
    assert_eq!(unit_of(&html, "system.process.cpu.time.ms as CPU"), " (%)");
    assert_eq!(unit_of(&html, "ocelot.client.bytes.sent /min"), " (KiB)");
}

#[tokio::test]
async fn series_that_stay_0_all_hour_are_named_instead_of_charted() {
    let html = heartbeat_page().await;
    let note = html
        .split("zero-series")
        .nth(1)
        .expect("a note on zero series");
    let note = &note[..note.find("</p>").unwrap()];
    for name in [
        "ocelot.client.queue.depth",
        "ocelot.client.send.failures",
        "ocelot.client.trees.dropped.queue_full",
        "ocelot.client.trees.dropped.send_failed",
    ] {
        assert!(
            note.contains(&format!("<code>{name}</code>")),
            "{name} in {note}"
        );
    }
    assert!(!titles(&html).iter().any(|t| t.contains("dropped")));
}

#[tokio::test]
async fn heartbeat_charts_are_drawn_at_grid_size() {
    let html = heartbeat_page().await;
    assert!(html.contains("<div class=\"charts grid\">"));
    assert_eq!(
        html.matches("viewBox=\"0 0 380 180\"").count(),
        titles(&html).len()
    );
}

/// A machine the domain does not have answers 404 with a way back, as the other boards do;
/// it used to be a 200 "No heartbeats" page, as if the machine were known and quiet.
#[tokio::test]
async fn an_unknown_machine_is_a_404_with_a_link_to_the_domains_machines() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    reports.add_tree(&sdk_heartbeat(1));
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=sdk-app&ip=10.9.9.9").await;
    assert_eq!(response.status(), 404);
    let html = common::text(response).await;
    assert!(html.contains("No machine 10.9.9.9"), "{html}");
    assert!(
        html.contains(r#"href="/h?domain=sdk-app&amp;hour=2026112207">Show the first machine<"#),
        "{html}"
    );
}

/// What the QA pass's Java client sends (CAT's `status.xml` layout, cat-client's
/// `StatusInfoCollector`, plus the `JVMHeap` and `CatUsage` extensions) every 20 s, at
/// `second` of the hour: a process started at 06:12 that runs 3 threads and half a core's
/// CPU a minute, and an Eden space that only fills during the hour.
fn java_status(second: u64) -> String {
    let minutes = second as f64 / 60.0;
    let started_ms = HOUR_START_MS - 48 * 60_000;
    let up_ms = HOUR_START_MS + second * 1000 - started_ms;
    let started_threads = 100 + second / 20 * 3;
    let cpu_ns = 5_000_000_000 + second * 500_000_000;
    let eden = 50_000_000 + second * 10_000;
    let gc_count = 10 + second / 60;
    let gc_time = 200 + second / 60 * 15;
    let produced = 1_000 + second * 10;
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<status timestamp="2026-11-22 07:{minutes:02.0}:00.000">
   <runtime start-time="{started_ms}" up-time="{up_ms}" java-version="1.8.0_292" user-name="app"/>
   <os name="Linux" arch="amd64" version="5.10" available-processors="4" system-load-average="0.75" process-time="{cpu_ns}" total-physical-memory="8589934592" free-physical-memory="2147483648" committed-virtual-memory="4294967296" total-swap-space="0" free-swap-space="0"/>
   <disk><disk-volume id="/" total="107374182400" free="53687091200" usable="53687091200"/></disk>
   <memory max="1073741824" total="536870912" free="268435456" heap-usage="268435456" non-heap-usage="67108864">
      <gc name="ParNew" count="{gc_count}" time="{gc_time}"/>
   </memory>
   <thread count="60" daemon-count="40" peek-count="64" total-started-count="{started_threads}" cat-thread-count="5" http-thread-count="10"><dump>...</dump></thread>
   <message produced="{produced}" overflowed="0" bytes="{bytes}"/>
   <extension id="JVMHeap"><extensionDetail id="Eden Space" value="{eden}"/></extension>
   <extension id="CatUsage"><extensionDetail id="Produced" value="{produced}"/></extension>
</status>"#,
        bytes = produced * 300,
    )
}

/// The page of a Java client's machine 30 s into minute 40 of the current hour, with its
/// heartbeats of minutes 30 to 39 and the two of minute 40 so far (at :05 and :25).
async fn java_heartbeat_page() -> String {
    let now_ms = HOUR_START_MS + 40 * 60_000 + 30_000;
    let mut reports = MemoryReports::new(now_ms);
    for second in (30 * 60 + 5..=40 * 60 + 25).step_by(20) {
        let ts = HOUR_START_MS + second * 1000;
        reports.add_tree(&MessageTree::new(
            Header {
                domain: "java-app".to_owned(),
                hostname: "java-1".to_owned(),
                ip_address: "10.9.9.3".to_owned(),
                ..Header::default()
            },
            Message::Heartbeat(Leaf::new(
                "Heartbeat",
                "10.9.9.3",
                "0",
                ts,
                java_status(second),
            )),
        ));
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=java-app").await;
    assert_eq!(response.status(), 200);
    common::text(response).await
}

/// The QA pass's first finding: which of a CAT Java client's series are running totals is
/// known by name, not guessed from the trend or from words like "thread".
#[tokio::test]
async fn java_client_totals_are_rates_and_its_levels_stay_levels() {
    let html = java_heartbeat_page().await;
    let titles = titles(&html);
    // Threads started: 3 every 20 s, 9 a minute (was drawn as a ramp, "thread" being a
    // level word).
    assert!(
        titles.contains(&"thread.total-started-count /min"),
        "{titles:?}"
    );
    assert!(html.contains("thread.total-started-count /min at :39: 9</title>"));
    // An Eden space that only grows is still a level (was drawn /min), in MiB.
    assert!(titles.contains(&"JVMHeap.Eden Space"), "{titles:?}");
    assert_eq!(unit_of(&html, "JVMHeap.Eden Space"), " (MiB)");
    // 30 s of CPU (in ns) a minute is half a core (was a unitless "30G").
    assert_eq!(unit_of(&html, "os.process-time as CPU"), " (%)");
    assert!(html.contains("os.process-time as CPU at :39: 50%</title>"));
    // 15 ms of GC a minute.
    assert_eq!(unit_of(&html, "memory.gc[ParNew].time /min"), " (ms)");
    assert!(html.contains("memory.gc[ParNew].time /min at :39: 15 ms</title>"));
    assert!(titles.contains(&"memory.gc[ParNew].count /min"));
    assert!(titles.contains(&"message.produced /min"));
    assert!(titles.contains(&"CatUsage.Produced /min"));
    // Levels that never move are levels too.
    assert!(titles.contains(&"thread.count"));
    assert!(titles.contains(&"memory.heap-usage"));
    // Start time (epoch ms, "1796.6G") and uptime ("60k" a minute) are no charts; the
    // start time is a date.
    assert!(
        !titles.iter().any(|t| t.starts_with("runtime.")),
        "{titles:?}"
    );
    assert!(
        html.contains("Process started 2026-11-22 06:12:00.000 UTC."),
        "{html}"
    );
}

/// The QA pass's second finding: the running minute's increase so far (6 threads started
/// by :25) read as a sharp drop from 9 a minute.
#[tokio::test]
async fn rate_charts_leave_out_the_running_minute() {
    let html = java_heartbeat_page().await;
    assert!(html.contains("thread.total-started-count /min at :39: 9</title>"));
    assert!(
        !html.contains("thread.total-started-count /min at :40:"),
        "{html}"
    );
    assert!(!html.contains("os.process-time as CPU at :40:"));
    // A level's last heartbeat is as good as any.
    assert!(html.contains("thread.count at :40: 60</title>"));
    assert!(html.contains("The running minute is left out of /min charts until it ends."));
}

/// The QA pass's third finding: a machine whose heartbeats were all malformed was "a
/// machine that sent no heartbeat".
#[tokio::test]
async fn a_machine_whose_heartbeats_could_not_be_read_says_how_many() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    for minute in [3, 4] {
        let mut tree = sdk_heartbeat(minute);
        tree.header.ip_address = "10.9.9.3".to_owned();
        if let Message::Heartbeat(heartbeat) = &mut tree.root {
            heartbeat.data = "<status><extension id=\"x\"></status>".to_owned();
        }
        reports.add_tree(&tree);
    }
    // Another machine of the domain, read well, with one bad heartbeat of its own.
    for minute in [3, 4] {
        reports.add_tree(&sdk_heartbeat(minute));
    }
    // A third machine whose heartbeats hold no number.
    let mut empty = sdk_heartbeat(3);
    empty.header.ip_address = "10.9.9.4".to_owned();
    if let Message::Heartbeat(heartbeat) = &mut empty.root {
        heartbeat.data = "<status/>".to_owned();
    }
    reports.add_tree(&empty);
    let mut bad = sdk_heartbeat(5);
    if let Message::Heartbeat(heartbeat) = &mut bad.root {
        heartbeat.data = "<status".to_owned();
    }
    reports.add_tree(&bad);
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));

    let response = common::get(app.clone(), "/h?domain=sdk-app&ip=10.9.9.3").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    assert!(!html.contains("sent no heartbeat"), "{html}");
    assert!(
        html.contains("2 heartbeats from this machine could not be read in this hour"),
        "{html}"
    );
    assert!(html.contains("their XML is not well-formed, so it is not CAT's &lt;status&gt; layout"));

    let html = common::text(common::get(app.clone(), "/h?domain=sdk-app&ip=10.9.9.4").await).await;
    assert!(
        html.contains("in this hour hold no number to chart"),
        "{html}"
    );

    let html = common::text(common::get(app, "/h?domain=sdk-app&ip=10.0.9.1").await).await;
    assert!(
        html.contains("1 heartbeat from this machine could not be read in this hour"),
        "{html}"
    );
    assert!(!titles(&html).is_empty(), "its charts are still drawn");
}

/// The machines table of a domain of three SDK machines, 40 minutes into the hour:
/// `10.0.0.10` sends every minute, `10.0.0.2` last at :38 (one minute late, not silent
/// yet), `10.0.0.9` last at :29 (silent for ten minutes).
fn three_machines() -> axum::Router {
    let mut reports = MemoryReports::new(common::NOW_MS);
    for (ip, last) in [("10.0.0.10", 39), ("10.0.0.2", 38), ("10.0.0.9", 29)] {
        for minute in 0..=last {
            reports.add_tree(&sdk_heartbeat_of(ip, minute));
        }
    }
    router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)))
}

/// The rows of the machines table, each as its cells' text (tags dropped).
fn machine_rows(html: &str) -> Vec<Vec<String>> {
    let table = html
        .split("<table class=\"report machines\">")
        .nth(1)
        .unwrap_or_else(|| panic!("a machines table: {html}"));
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in cell.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text
                })
                .collect()
        })
        .collect()
}

/// Heartbeats had no view of all machines: `/h` without `ip` showed the first machine's
/// charts, so an engineer with twenty machines opened twenty pages to find the one down.
#[tokio::test]
async fn without_a_machine_a_domain_of_several_lists_them_silent_first() {
    let response = common::get(three_machines(), "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    assert_eq!(titles(&html), Vec::<&str>::new(), "no machine's charts");
    let rows = machine_rows(&html);
    // Silent first, then by IP as numbers (10.0.0.2 before 10.0.0.10). At :29 and :38 the
    // RSS is 42 000 000 bytes (40.05 MiB), at :39 40 000 000 (38.15 MiB); threads are 31 at
    // odd minutes, 30 at even ones. 6 000 ms of CPU a minute is 10 % of a core. No GC.
    assert_eq!(
        rows,
        [
            [
                "10.0.0.9",
                "07:29 UTC",
                "silent",
                "10%",
                "40.05 MiB",
                "31",
                "—"
            ],
            [
                "10.0.0.2",
                "07:38 UTC",
                "sending",
                "10%",
                "40.05 MiB",
                "30",
                "—"
            ],
            [
                "10.0.0.10",
                "07:39 UTC",
                "sending",
                "10%",
                "38.15 MiB",
                "31",
                "—"
            ],
        ],
        "{html}"
    );
    assert!(html.contains("1 silent"), "{html}");
    // Each row opens that machine's charts.
    for ip in ["10.0.0.9", "10.0.0.2", "10.0.0.10"] {
        assert!(
            html.contains(&format!(
                r#"<td class="name"><a href="/h?domain=sdk-app&amp;hour=2026112207&amp;ip={ip}">{ip}</a></td>"#
            )),
            "{ip}: {html}"
        );
    }
    // The figures say which series they are.
    assert!(html.contains(r#"title="system.process.cpu.time.ms as CPU">10%<"#));
    assert!(html.contains(r#"title="system.process.memory.rss.bytes">38.15 MiB<"#));
    // The picker stays, with every machine at once as its choice.
    assert!(
        html.contains(r#"<option value="All" selected>All machines</option>"#),
        "{html}"
    );
    assert!(html.contains(r#"<option value="10.0.0.9">10.0.0.9</option>"#));
}

#[tokio::test]
async fn a_machine_picked_from_several_shows_its_charts_and_the_way_back() {
    let response = common::get(three_machines(), "/h?domain=sdk-app&ip=10.0.0.9").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    assert!(!html.contains("report machines"), "{html}");
    assert!(titles(&html).contains(&"system.process.threads"));
    assert!(html.contains("No heartbeat since 07:29 UTC (10 minutes)"));
    assert!(
        html.contains(r#"<option value="All">All machines</option>"#),
        "{html}"
    );
    // `ip=All` is the overview too.
    let html = common::text(common::get(three_machines(), "/h?domain=sdk-app&ip=All").await).await;
    assert_eq!(machine_rows(&html).len(), 3);
}

#[tokio::test]
async fn a_past_hour_lists_its_machines_without_calling_any_silent() {
    let mut reports = MemoryReports::new(common::NOW_MS + 3_600_000);
    for (ip, last) in [("10.0.0.1", 59), ("10.0.0.2", 20)] {
        for minute in 0..=last {
            reports.add_tree(&sdk_heartbeat_of(ip, minute));
        }
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let uri = format!("/h?domain=sdk-app&hour={}", common::HOUR_LABEL);
    let html = common::text(common::get(app, &uri).await).await;
    let rows = machine_rows(&html);
    let states: Vec<(&str, &str, &str)> = (rows.iter())
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        states,
        [("10.0.0.1", "07:59 UTC", ""), ("10.0.0.2", "07:20 UTC", "")],
        "{html}"
    );
}

/// Two hours of a domain, 3.5 minutes into the second (07:03:30): `10.0.0.1` sends all
/// along, `10.0.0.2` stopped at 06:29, `10.0.0.3` started at 07:00.
fn machine_silent_since_the_hour_before() -> axum::Router {
    let mut reports = MemoryReports::new(HOUR_START_MS + 3 * 60_000 + 30_000);
    for (hour, ip, minutes) in [
        (HOUR - 1, "10.0.0.1", 0..=59),
        (HOUR - 1, "10.0.0.2", 0..=29),
        (HOUR, "10.0.0.1", 0..=3),
        (HOUR, "10.0.0.3", 0..=3),
    ] {
        for minute in minutes {
            reports.add_tree(&sdk_heartbeat_in(hour, ip, minute));
        }
    }
    router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)))
}

/// QA: a machine that stopped at 06:29 was in the overview at 06:57, silent, and gone from
/// it at 07:03 (both others sending, its page an unknown machine), while its heartbeat
/// alert, which watches machines heard in the hour or the hour before, still fired.
#[tokio::test]
async fn a_machine_heard_only_in_the_hour_before_is_listed_silent_after_the_hour() {
    let app = machine_silent_since_the_hour_before();
    let response = common::get(app.clone(), "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    let rows = machine_rows(&html);
    let states: Vec<(&str, &str, &str)> = (rows.iter())
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("10.0.0.2", "2026-11-22 06:29 UTC", "silent"),
            ("10.0.0.1", "07:03 UTC", "sending"),
            ("10.0.0.3", "07:03 UTC", "sending"),
        ],
        "{html}"
    );
    // No figures of this hour: those of the hour before are behind the link.
    assert_eq!(rows[0][3..], ["—", "—", "—", "—"]);
    assert!(html.contains("3 machines"), "{html}");
    assert!(html.contains("1 silent"), "{html}");
    // 06:30 to 06:59 and 07:00 to 07:02 ended without one.
    assert!(html.contains("No heartbeat for 33 minutes"), "{html}");
    assert!(
        html.contains(r#"<a href="/h?domain=sdk-app&amp;hour=2026112206&amp;ip=10.0.0.2""#),
        "{html}"
    );
    assert!(html.contains(r#"<option value="10.0.0.2">10.0.0.2</option>"#));

    // Picked, it is a machine that sent nothing in this hour, with the way to the last.
    let response = common::get(app, "/h?domain=sdk-app&ip=10.0.0.2").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    assert!(!html.contains("No machine 10.0.0.2"), "{html}");
    assert!(html.contains("No heartbeats in this hour"), "{html}");
    assert!(
        html.contains("No heartbeat since 2026-11-22 06:29 UTC (33 minutes)"),
        "{html}"
    );
    assert!(
        html.contains(
            r#"<a href="/h?domain=sdk-app&amp;hour=2026112206&amp;ip=10.0.0.2">its heartbeats of 2026-11-22 06:00 UTC</a>"#
        ),
        "{html}"
    );
}

/// The hour before is as it was: its machines, none called silent or taken from elsewhere.
#[tokio::test]
async fn the_hour_before_keeps_its_own_machines_without_silent_labels() {
    let uri = format!("/h?domain=sdk-app&hour={}", common::PAST_HOUR_LABEL);
    let html = common::text(common::get(machine_silent_since_the_hour_before(), &uri).await).await;
    let rows = machine_rows(&html);
    let states: Vec<(&str, &str, &str)> = (rows.iter())
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        states,
        [("10.0.0.1", "06:59 UTC", ""), ("10.0.0.2", "06:29 UTC", "")],
        "{html}"
    );
    assert!(!html.contains("silent-count"), "{html}");
}

/// A domain whose every machine went silent in the hour before has no report of this hour:
/// its overview lists them, rather than "no report".
#[tokio::test]
async fn a_domain_silent_since_the_hour_before_lists_its_machines() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    for minute in 0..=50 {
        reports.add_tree(&sdk_heartbeat_in(HOUR - 1, "10.0.0.2", minute));
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    let rows = machine_rows(&html);
    assert_eq!(rows.len(), 1, "{html}");
    assert_eq!(
        (
            rows[0][0].as_str(),
            rows[0][1].as_str(),
            rows[0][2].as_str()
        ),
        ("10.0.0.2", "2026-11-22 06:50 UTC", "silent")
    );
}
