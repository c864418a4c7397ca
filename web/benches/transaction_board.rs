//! Server-side render time of the transaction board: `GET /t?domain=&type=` through the
//! whole router (report fetched from a `MemoryReports`, viewed, sorted, rendered to HTML,
//! body collected), for a type with 100, 1 000 and 10 000 names. Goal: < 100 ms at 10 000.
//! And the day board, `GET /t?domain=&day=&type=`: 24 hours of such reports fetched, folded
//! and merged, then viewed and rendered (`transaction_day_board`).
//!
//! ```sh
//! cargo bench -p ocelot-web --bench transaction_board -- --warm-up-time 2 --measurement-time 10
//! cargo bench -p ocelot-web --bench transaction_board -- transaction_day_board
//! cargo bench -p ocelot-web --bench transaction_board -- transaction_week_board
//! ```
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http_body_util::BodyExt;
use ocelot_analyzer::{AnalyzerConfig, ViewQuery};
use ocelot_protocol::{Header, Message, MessageId, MessageTree, Transaction};
use ocelot_web::{router, AppState, MemoryLookup, MemoryReports, ReportSource};
use tower::ServiceExt;

const HOUR: u64 = 498_703;
const HOUR_START_MS: u64 = HOUR * 3_600_000;
/// Trees per name: enough for several minutes, a failure and distinct percentiles.
const TREES_PER_NAME: u64 = 4;

/// One `Service` transaction named `name`, at `minute` of [`HOUR`], of `duration_us`.
fn tree(name: &str, seq: u64, minute: u64, duration_us: u64, failed: bool) -> MessageTree {
    tree_in(HOUR, name, seq, minute, duration_us, failed)
}

/// One `Service` transaction named `name`, at `minute` of `hour`, of `duration_us`.
fn tree_in(
    hour: u64,
    name: &str,
    seq: u64,
    minute: u64,
    duration_us: u64,
    failed: bool,
) -> MessageTree {
    let mut root = Transaction::new(
        "Service",
        name,
        hour * 3_600_000 + minute * 60_000 + seq % 1000,
    );
    root.duration_us = duration_us;
    if failed {
        root.status = "TIMEOUT".to_owned();
    }
    let id = MessageId::new(
        "bench".to_owned(),
        0x0a00_0001 + (seq % 4) as u32,
        hour,
        seq,
    );
    MessageTree::new(
        Header {
            domain: "bench".to_owned(),
            ip_address: format!("10.0.0.{}", 1 + seq % 4),
            message_id: id.to_string(),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

fn reports(names: u64) -> MemoryReports {
    let config = AnalyzerConfig {
        max_names_per_type: 20_000,
        ..AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(HOUR_START_MS + 59 * 60_000, config);
    let mut seq = 0;
    for n in 0..names {
        let name = format!("OrderService.method{n}");
        for i in 0..TREES_PER_NAME {
            seq += 1;
            let duration_us = 500 + (n * 37 + i * 911) % 50_000;
            reports.add_tree(&tree(
                &name,
                seq,
                (n + i * 13) % 60,
                duration_us,
                i == 3 && n % 5 == 0,
            ));
        }
    }
    reports
}

fn transaction_board(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("transaction_board");
    group.sample_size(20);
    for names in [100, 1_000, 10_000] {
        let app = router(
            AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(reports(names))),
        );
        let uri = "/t?domain=bench&hour=current&type=Service";
        let html_len = page_len(&runtime, &app, uri);
        assert!(html_len > names as usize * 100, "every name is rendered");
        eprintln!("{names} names: {} KiB of HTML", html_len / 1024);
        group.bench_with_input(BenchmarkId::new("names", names), &names, |b, _| {
            b.iter(|| page_len(&runtime, &app, uri));
        });
    }
    group.finish();
}

/// The part of a request that is not rendering: fetching the report from the source (a
/// clone, as a collector's live report would be) and viewing it (merging machines,
/// computing percentiles).
fn fetch_and_view(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("transaction_fetch_and_view");
    group.sample_size(20);
    let names = 10_000;
    let reports = reports(names);
    group.bench_with_input(BenchmarkId::new("fetch_only", names), &names, |b, _| {
        b.iter(|| {
            runtime
                .block_on(reports.transaction("bench".to_owned(), HOUR))
                .map(|r| r.folded())
        });
    });
    group.bench_with_input(BenchmarkId::new("names", names), &names, |b, _| {
        b.iter(|| {
            let report = runtime
                .block_on(reports.transaction("bench".to_owned(), HOUR))
                .expect("a report");
            report
                .view(&ViewQuery {
                    type_: Some("Service"),
                    elapsed_seconds: 3600.0,
                    ..ViewQuery::default()
                })
                .types
                .len()
        });
    });
    group.finish();
}

/// `names` names as [`reports`] has them, in every hour of the day of [`HOUR`] (24
/// hourly reports), with durations that shift from hour to hour; now is the next day.
fn day_reports(names: u64) -> MemoryReports {
    days_reports(names, HOUR / 24 * 24, 1)
}

/// [`day_reports`] over `days` days from the hour `first_hour`; now is ten hours after.
fn days_reports(names: u64, first_hour: u64, days: u64) -> MemoryReports {
    let config = AnalyzerConfig {
        max_names_per_type: 20_000,
        ..AnalyzerConfig::default()
    };
    let end = first_hour + days * 24;
    let mut reports = MemoryReports::with_config((end + 10) * 3_600_000, config);
    let mut seq = 0;
    for hour in first_hour..end {
        for n in 0..names {
            let name = format!("OrderService.method{n}");
            for i in 0..TREES_PER_NAME {
                seq += 1;
                let duration_us = 500 + (n * 37 + i * 911 + hour * 1_013) % 50_000;
                reports.add_tree(&tree_in(
                    hour,
                    &name,
                    seq,
                    (n + i * 13) % 60,
                    duration_us,
                    i == 3 && n % 5 == 0,
                ));
            }
        }
    }
    reports
}

fn transaction_day_board(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("transaction_day_board");
    group.sample_size(10);
    let day = ocelot_analyzer::day_label(HOUR / 24);
    for names in [100, 1_000] {
        let app = router(
            AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(day_reports(names))),
        );
        let uri = format!("/t?domain=bench&day={day}&type=Service");
        let html_len = page_len(&runtime, &app, &uri);
        assert!(html_len > names as usize * 100, "every name is rendered");
        eprintln!("{names} names x 24 hours: {} KiB of HTML", html_len / 1024);
        group.bench_with_input(BenchmarkId::new("names", names), &names, |b, _| {
            b.iter(|| page_len(&runtime, &app, &uri));
        });
    }
    group.finish();
}

/// A week's board (`week=`: 168 hourly reports, one row per day) against one day's of the
/// same reports, in one run: the ratio is what a week costs.
fn transaction_week_board(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("transaction_week_board");
    group.sample_size(10);
    let week = ocelot_analyzer::Span::week_of(HOUR / 24);
    let day = ocelot_analyzer::day_label(HOUR / 24);
    for names in [100, 1_000] {
        let reports = Arc::new(days_reports(names, week.hours().start, 7));
        let app =
            router(AppState::new(Arc::new(MemoryLookup::new())).with_reports(reports.clone()));
        // The same reports with past days kept (`web.day_cache_mib`): every day of the
        // week is over at the reports' "now", so after the first request a week adds
        // seven kept days.
        let kept = router(
            AppState::new(Arc::new(MemoryLookup::new()))
                .with_reports(reports)
                .with_day_cache_bytes(1 << 30),
        );
        let week_uri = format!("/t?domain=bench&week={}&type=Service", week.label());
        for (period, app, uri) in [
            (
                "day",
                &app,
                format!("/t?domain=bench&day={day}&type=Service"),
            ),
            ("week", &app, week_uri.clone()),
            ("week_days_kept", &kept, week_uri.clone()),
        ] {
            group.bench_with_input(BenchmarkId::new(period, names), &names, |b, _| {
                b.iter(|| page_len(&runtime, app, &uri));
            });
        }
    }
    group.finish();
}

/// One request through the router: its body's length (a success asserted).
fn page_len(runtime: &tokio::runtime::Runtime, app: &axum::Router, uri: &str) -> usize {
    runtime.block_on(async {
        let request = Request::get(uri).body(Body::empty()).expect("a request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert!(response.status().is_success());
        let body = response.into_body().collect().await.expect("a body");
        body.to_bytes().len()
    })
}

criterion_group!(
    benches,
    transaction_board,
    fetch_and_view,
    transaction_day_board,
    transaction_week_board
);
criterion_main!(benches);
