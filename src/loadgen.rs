//! `ocelot loadgen`: realistic trees over several connections, for benchmarks and soak tests.
//!
//! Frames are encoded before the clock starts (one pool per connection), so the figures
//! measure the collector, not the generator.
//!
//! Message IDs: each run numbers its clients' trees after those of earlier runs in the same
//! hour (see [`SeqStart`]), since the store keeps only the first tree of an ID.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use ocelot_protocol::nt1;
use ocelot_protocol::sample::SampleTrees;

use crate::status::Samples;

/// What `loadgen` was asked.
#[derive(Debug, Clone)]
pub(crate) struct LoadgenArgs {
    pub(crate) target: SocketAddr,
    pub(crate) rate: u64,
    pub(crate) trees: u64,
    pub(crate) connections: usize,
    pub(crate) domains: usize,
    pub(crate) names: u64,
    /// Machines per domain shared by all connections (`None`: 8 per connection).
    pub(crate) machines: Option<u32>,
    /// Data fields the size real clients send (`SampleTrees::full_data`).
    pub(crate) full_data: bool,
    /// Messages per tree, `(min, max)` (`SampleTrees::messages`).
    pub(crate) messages: Option<(u64, u64)>,
    pub(crate) web: Option<String>,
    pub(crate) gzip_baseline: bool,
    /// Stamp trees evenly over this many past minutes of the current hour (0: send time).
    pub(crate) spread_minutes: u64,
    /// Zipf exponent of the domains' shares (`SampleTrees::domain_skew`; 0: even).
    pub(crate) domain_skew: f64,
}

/// Writes of at least this many bytes, as CAT's C client batches (up to ~60 KiB).
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// Without `--rate`, trees are stamped as if sent at this many per second (all connections).
const ASSUMED_FLAT_OUT_RATE: u64 = 200_000;

/// With `--rate`, each connection writes what is due once per tick: at 100 k trees/s over
/// 4 connections that is about 25 trees per write, like many clients on one link, rather
/// than one write per tree (which measures syscalls, not the collector).
const PACE_TICK: Duration = Duration::from_millis(1);

/// How long to wait, after the last tree is written, for the collector to count them all.
/// What is left then is at most what the sockets buffer (a few MiB a connection), which the
/// collector reads in well under a second; if 30 s is not enough, something else is wrong,
/// and a script should hear so instead of waiting for good.
const COLLECTOR_WAIT: Duration = Duration::from_secs(30);

/// Time between two reads of the collector's frame counter while waiting.
const COLLECTOR_POLL: Duration = Duration::from_millis(100);

pub(crate) fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let connections = args.connections.max(1);
    let per_connection = args.trees.div_ceil(connections as u64);
    if let Some(machines) = args.machines {
        anyhow::ensure!(
            machines as usize >= connections,
            "--machines {machines} is fewer than --connections {connections}: each connection \
             needs a machine of its own (two connections sending as one machine would repeat its \
             message IDs)"
        );
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let seq_start = SeqStart::ask(args.web.as_deref(), now_ms);
    eprintln!(
        "encoding {} trees for {connections} connection(s)...",
        args.trees
    );
    // With --spread-minutes: from that many minutes ago (not before the hour began) to now.
    let spread = (args.spread_minutes > 0).then(|| {
        let hour_start_ms = now_ms - now_ms % 3_600_000;
        let start_ms = now_ms
            .saturating_sub(args.spread_minutes * 60_000)
            .max(hour_start_ms);
        (start_ms, now_ms - start_ms)
    });
    // One thread per connection's pool: encoding several million trees on one thread took
    // longer than sending them.
    let encode_pool = |c: usize| {
        // Each connection is its own group of client machines (10.0.<c>.x).
        let mut samples = SampleTrees::new(c as u64 + 1, args.domains, args.names, now_ms)
            .domain_skew(args.domain_skew)
            .seqs_after(|domain| seq_start.after(domain));
        if args.full_data {
            samples = samples.full_data();
        }
        if let Some((min, max)) = args.messages {
            samples = samples.messages(min, max);
        }
        let mut samples = match args.machines {
            Some(machines) => samples.machine_share(c as u32, connections as u32, machines),
            None => samples.for_client_group(c as u8),
        }
        .distinct_names();
        let mut out = Pool::default();
        let n = per_connection.min(args.trees.saturating_sub(c as u64 * per_connection));
        // Stamp each tree with about when it will be sent, so a long run stays in the
        // collector's hour window instead of drifting a millisecond per tree.
        let rate = if args.rate > 0 {
            args.rate
        } else {
            ASSUMED_FLAT_OUT_RATE
        };
        for i in 0..n {
            samples.now_ms = match spread {
                Some((start_ms, span_ms)) => start_ms + i * span_ms / n.max(1),
                None => now_ms + i * 1000 * connections as u64 / rate,
            };
            nt1::encode(&samples.tree(), &mut out.bytes);
            out.ends.push(out.bytes.len());
        }
        out
    };
    let pools: Vec<Pool> = std::thread::scope(|scope| {
        let encoders: Vec<_> = (0..connections)
            .map(|c| scope.spawn(move || encode_pool(c)))
            .collect();
        encoders
            .into_iter()
            .map(|e| e.join().expect("encoding does not panic"))
            .collect()
    });
    let total_bytes: u64 = pools.iter().map(|p| p.bytes.len() as u64).sum();
    let sent = AtomicU64::new(0);
    let bar = ProgressBar::new(args.trees);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} trees  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let per_connection_rate = (args.rate > 0).then(|| args.rate as f64 / connections as f64);
    // Read just before sending: what the collector counts from here on is ours, plus any
    // other clients' (the demo's, or production traffic).
    let frames_before = args.web.as_deref().map(frames_received);
    let started = Instant::now();
    // Scoped senders borrow the pools, which stay for the gzip yardstick (a copy of them
    // made before sending doubled the memory the run touched).
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = pools
            .iter()
            .map(|pool| {
                let sent = &sent;
                let target = args.target;
                scope.spawn(move || send_pool(target, pool, per_connection_rate, sent))
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            bar.set_position(sent.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a sender thread panicked"))??;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let trees = sent.load(Ordering::Relaxed);
    bar.finish_and_clear();
    println!(
        "sent {trees} trees, {:.1} MiB in {elapsed:.2} s: {:.0} trees/s, {:.1} MiB/s",
        total_bytes as f64 / 1_048_576.0,
        trees as f64 / elapsed,
        total_bytes as f64 / 1_048_576.0 / elapsed
    );
    if let Some(web) = &args.web {
        wait_for_collector(web, frames_before.flatten(), trees, started);
        match crate::http::get(web, "/api/state?hour=current") {
            Ok(body) => println!("{}", collector_view(&body)),
            Err(e) => println!("could not ask the collector for its figures: {e:#}"),
        }
    }
    // Last, so the collector's own rate above is not stretched by it.
    if args.gzip_baseline {
        gzip_baseline(&pools);
    }
    Ok(())
}

/// The yardstick of the collector benchmark: zlib-rs gzip level 1 of the same bytes on one
/// core, in 64 KiB blocks as the store compresses them.
fn gzip_baseline(pools: &[Pool]) {
    let bytes: usize = pools.iter().map(|p| p.bytes.len()).sum();
    let started = Instant::now();
    let mut compressed = 0usize;
    for pool in pools {
        for block in pool.bytes.chunks(64 * 1024) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            gz.write_all(block).expect("in memory");
            compressed += gz.finish().expect("in memory").len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "gzip level 1 (zlib-rs) of the same bytes on one core: {:.1} MiB/s, ratio {:.1}x",
        bytes as f64 / 1_048_576.0 / secs,
        bytes as f64 / compressed.max(1) as f64
    );
}

/// `--messages MIN-MAX`.
pub(crate) fn parse_message_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not MIN-MAX, e.g. 5-30"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("{s:?} in {text:?} is not a whole number"))
    };
    let (min, max) = (number(min)?, number(max)?);
    if min == 0 || min > max || max > 10_000 {
        return Err(format!("{text:?}: need 1 <= MIN <= MAX <= 10000"));
    }
    Ok((min, max))
}

/// `--domain-skew S`: a Zipf exponent, 0 (even) to 10.
pub(crate) fn parse_skew(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (0.0..=10.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?}: need a number from 0 (even) to 10, e.g. 1"
        )),
    }
}

/// Where each domain's sequence numbers start, so that a run's message IDs differ from
/// those of earlier runs in the same hour: the store keeps the first tree of an ID and
/// drops later ones as duplicates, which lost whole runs while every run counted from 1.
///
/// Kept small on purpose: an index file is `seq × 6` bytes long (mostly holes, but
/// `DiskUse` shows the length and recovery reads it), and the store drops sequence numbers
/// over 50 M. A random start, or seconds into the hour times the run's size, would make
/// index files hundreds of MB long or pass that cap.
#[derive(Debug, Clone, PartialEq)]
enum SeqStart {
    /// With `--web`: after the trees the collector received for the domain this hour (its
    /// State report), plus those it counted under `OTHERS` (where a domain past the cap is
    /// counted). An earlier run numbered after the count of its time, which has since grown
    /// by every tree of it that arrived, so its stored IDs all lie at or below today's
    /// count; and a fresh server still sees 1, 2, 3... as before (benchmarks unchanged).
    Received {
        by_domain: HashMap<String, u64>,
        others: u64,
    },
    /// Without a count: after the milliseconds into the hour. Runs then collide only if a
    /// client sent more than 1 000 trees a second since the previous run began, and the
    /// start stays below 3.6 M (index files under 22 MB).
    Clock(u64),
}

impl SeqStart {
    /// From the collector's counts if `web` is given and answers, else from the clock.
    fn ask(web: Option<&str>, now_ms: u64) -> SeqStart {
        if let Some(web) = web {
            match crate::http::get(web, "/api/state?hour=current") {
                Ok(body) => match SeqStart::from_state(&body) {
                    Some(start) => return start,
                    None => eprintln!(
                        "the collector's /api/state has no per-domain counts: numbering \
                         trees after the milliseconds into the hour"
                    ),
                },
                Err(e) => eprintln!(
                    "could not ask the collector for this hour's counts ({e:#}): numbering \
                     trees after the milliseconds into the hour"
                ),
            }
        }
        SeqStart::from_clock(now_ms)
    }

    /// From an `/api/state` answer; `None` if it has no `domains`.
    fn from_state(body: &str) -> Option<SeqStart> {
        let state: serde_json::Value = serde_json::from_str(body).ok()?;
        let mut by_domain: HashMap<String, u64> = state
            .get("domains")?
            .as_object()?
            .iter()
            .map(|(domain, received)| {
                let trees = received.get("trees").and_then(serde_json::Value::as_u64);
                (domain.clone(), trees.unwrap_or(0))
            })
            .collect();
        let others = by_domain.remove(ocelot_analyzer::OTHERS).unwrap_or(0);
        Some(SeqStart::Received { by_domain, others })
    }

    fn from_clock(now_ms: u64) -> SeqStart {
        SeqStart::Clock(now_ms % 3_600_000)
    }

    /// The number `domain`'s clients count up from: their first tree gets the next one.
    fn after(&self, domain: &str) -> u64 {
        match self {
            SeqStart::Received { by_domain, others } => by_domain
                .get(domain)
                .copied()
                .unwrap_or(0)
                .saturating_add(*others),
            SeqStart::Clock(ms_into_hour) => *ms_into_hour,
        }
    }
}

/// The collector's count of frames read, good or bad, from its `/metrics`. Every frame is
/// counted whatever later becomes of its tree (dropped, a duplicate, out of window), so
/// drops do not keep the count short of what was sent.
fn frames_received(web: &str) -> Option<u64> {
    let body = crate::http::get(web, "/metrics").ok()?;
    frames_in(&body)
}

fn frames_in(metrics: &str) -> Option<u64> {
    let name = format!("{}_total", crate::telemetry::FRAMES_RECEIVED);
    Samples::parse(metrics)
        .0
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.value as u64)
}

/// What the wait for the collector does after a read of its frame counter.
#[derive(Debug, PartialEq)]
enum WaitStep {
    /// Keep waiting.
    Wait,
    /// The counter moved by at least the trees sent (by `taken`: more if other clients
    /// sent too).
    Done { taken: u64 },
    /// Still short after [`COLLECTOR_WAIT`]: the counter moved by `taken` (`None`: it could
    /// not be read).
    GiveUp { taken: Option<u64> },
    /// The counter went back below where it was before sending: the server restarted.
    Restarted { now: u64 },
}

/// The wait's decision, given the counter `before` sending, the trees `sent`, the latest
/// counter read (`None`: none could be read yet) and how long the wait has lasted.
///
/// It waits for `before + sent`, not for the counter to stand still: other clients keep a
/// live server's counter moving, and waiting for quiet hung for good beside `serve --demo`.
fn wait_step(before: u64, sent: u64, latest: Option<u64>, waited: Duration) -> WaitStep {
    match latest {
        Some(now) if now < before => WaitStep::Restarted { now },
        Some(now) if now - before >= sent => WaitStep::Done {
            taken: now - before,
        },
        _ if waited >= COLLECTOR_WAIT => WaitStep::GiveUp {
            taken: latest.map(|now| now - before),
        },
        _ => WaitStep::Wait,
    }
}

/// Waits until the collector has read the run's frames, then prints its rate: from the
/// start of sending to then. Gives up after [`COLLECTOR_WAIT`], saying what is missing.
fn wait_for_collector(web: &str, before: Option<u64>, sent: u64, started: Instant) {
    let metrics_url = crate::http::url_of(web, "/metrics");
    let Some(before) = before else {
        println!(
            "could not read {} from {metrics_url}: not waiting for the collector",
            crate::telemetry::FRAMES_RECEIVED
        );
        return;
    };
    let waiting = Instant::now();
    let mut latest = None;
    loop {
        if let Some(now) = frames_received(web) {
            latest = Some(now);
        }
        match wait_step(before, sent, latest, waiting.elapsed()) {
            WaitStep::Wait => std::thread::sleep(COLLECTOR_POLL),
            WaitStep::Done { taken } => {
                let busy = started.elapsed().as_secs_f64();
                println!(
                    "collector processed {sent} trees in {busy:.2} s: {:.0} trees/s",
                    sent as f64 / busy
                );
                if taken > sent {
                    println!(
                        "(it also read {} frames from other clients meanwhile, so it may have \
                         reached this count before the last of ours)",
                        taken - sent
                    );
                }
                return;
            }
            WaitStep::GiveUp { taken: Some(taken) } => {
                println!(
                    "gave up waiting for the collector after {} s: it read {taken} of the \
                     {sent} trees sent, {} still unread. It counts every frame it reads, \
                     dropped or not, so the rest is still in its sockets or was lost with a \
                     connection it closed (see ocelot_connections_evicted_total at \
                     {metrics_url} and its log); no rate given",
                    COLLECTOR_WAIT.as_secs(),
                    sent - taken
                );
                return;
            }
            WaitStep::GiveUp { taken: None } => {
                println!(
                    "gave up waiting for the collector after {} s: could not read \
                     {metrics_url}; no rate given",
                    COLLECTOR_WAIT.as_secs()
                );
                return;
            }
            WaitStep::Restarted { now } => {
                println!(
                    "the collector's frame count went back from {before} to {now}: the server \
                     restarted during the run; no rate given"
                );
                return;
            }
        }
    }
}

/// The line saying what the collector counted this hour, from its `/api/state` answer.
fn collector_view(body: &str) -> String {
    let Ok(state) = serde_json::from_str::<serde_json::Value>(body) else {
        return "collector answered something that is not JSON".to_owned();
    };
    let get = |k: &str| {
        state
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    // `drops` counts trees the store refused as duplicate IDs too; servers that tell them
    // apart say how many in `duplicates` (counted by the reports, found by their ID).
    let duplicates = get("duplicates");
    let duplicates_note = if duplicates > 0 {
        format!(", {duplicates} not stored again (duplicate message ID)")
    } else {
        String::new()
    };
    format!(
        "collector this hour: {} trees received, {} dropped{duplicates_note}, {} decode errors, {} out of window",
        get("trees"),
        get("drops").saturating_sub(duplicates),
        get("decodeErrors"),
        get("outOfWindow")
    )
}

/// One connection's frames, encoded before sending, and where each frame ends.
#[derive(Default)]
struct Pool {
    bytes: Vec<u8>,
    /// The end offset of every frame, so that the sender finds its batches without reading
    /// the frames' length prefixes (cold memory, a cache miss a frame).
    ends: Vec<usize>,
}

fn send_pool(
    target: SocketAddr,
    pool: &Pool,
    rate: Option<f64>,
    sent: &AtomicU64,
) -> anyhow::Result<()> {
    let mut stream =
        TcpStream::connect(target).with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    let started = Instant::now();
    let mut pos = 0;
    let mut trees = 0usize;
    while trees < pool.ends.len() {
        // With a rate, send what is due now (a real collector hears from many clients
        // at once, each writing whenever its trees are ready); without, as fast as possible.
        let due = match rate {
            Some(rate) => {
                let due = (started.elapsed().as_secs_f64() * rate) as usize;
                if due <= trees {
                    std::thread::sleep(PACE_TICK);
                    continue;
                }
                due - trees
            }
            None => usize::MAX,
        };
        // Whole frames up to the batch size (at least one).
        let mut batch_trees = 1;
        while trees + batch_trees < pool.ends.len()
            && batch_trees < due
            && pool.ends[trees + batch_trees] - pos <= WRITE_BATCH_BYTES
        {
            batch_trees += 1;
        }
        let end = pool.ends[trees + batch_trees - 1];
        stream.write_all(&pool.bytes[pos..end]).context("sending")?;
        pos = end;
        trees += batch_trees;
        sent.fetch_add(batch_trees as u64, Ordering::Relaxed);
    }
    stream.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use ocelot_protocol::nt1;
    use ocelot_protocol::sample::SampleTrees;
    use ocelot_protocol::MessageId;

    use super::{
        collector_view, frames_in, parse_message_range, parse_skew, run, wait_step, LoadgenArgs,
        SeqStart, WaitStep, COLLECTOR_WAIT,
    };

    const HOUR_START_MS: u64 = 1_795_330_800_000;

    #[test]
    fn the_collector_view_leaves_duplicate_ids_out_of_the_dropped_trees() {
        let line = collector_view(
            r#"{"trees":5000,"drops":2300,"duplicates":2000,"decodeErrors":1,"outOfWindow":4}"#,
        );
        assert_eq!(
            line,
            "collector this hour: 5000 trees received, 300 dropped, 2000 not stored again \
             (duplicate message ID), 1 decode errors, 4 out of window"
        );
        // An older server, without `duplicates`: its drops as they are.
        let line = collector_view(r#"{"trees":10,"drops":3}"#);
        assert!(
            line.contains("10 trees received, 3 dropped, 0 decode errors"),
            "{line}"
        );
        assert_eq!(
            collector_view("<html>"),
            "collector answered something that is not JSON"
        );
    }

    #[test]
    fn each_domain_continues_after_the_trees_the_collector_received_for_it_this_hour() {
        let state = r#"{"hour":"2026111208","trees":2105,"domains":{
            "app-0":{"trees":2000,"bytes":1},"app-1":{"trees":100,"bytes":1},
            "OTHERS":{"trees":5,"bytes":1}}}"#;
        let start = SeqStart::from_state(state).unwrap();
        // A domain folded into OTHERS may have its trees counted there.
        assert_eq!(start.after("app-0"), 2005);
        assert_eq!(start.after("app-1"), 105);
        assert_eq!(start.after("app-7"), 5);
        // A fresh server's hour: numbering from 1, as before.
        let fresh = SeqStart::from_state(r#"{"trees":0,"domains":{}}"#).unwrap();
        assert_eq!(fresh.after("app-0"), 0);
        assert_eq!(SeqStart::from_state(r#"{"trees":0}"#), None);
        assert_eq!(SeqStart::from_state("not json"), None);
    }

    #[test]
    fn runs_that_continue_after_the_collectors_counts_repeat_no_message_id() {
        // What the collector's State report counts: every tree received, by domain.
        let mut received = std::collections::HashMap::<String, u64>::new();
        let mut seen = std::collections::HashSet::new();
        for (run, trees, skew) in [(1u64, 2_000, 0.0), (2, 2_000, 1.0), (3, 500, 2.0)] {
            let start = SeqStart::Received {
                by_domain: received.clone(),
                others: 0,
            };
            let mut samples = SampleTrees::new(1, 3, 10, HOUR_START_MS + run * 60_000)
                .domain_skew(skew)
                .seqs_after(|domain| start.after(domain));
            for _ in 0..trees {
                let tree = samples.tree();
                let id = tree.header.message_id.parse::<MessageId>().unwrap();
                assert_eq!(id.to_string(), tree.header.message_id, "canonical");
                assert!(seen.insert(id), "run {run} repeated an ID");
                *received.entry(tree.header.domain).or_default() += 1;
            }
        }
        // The numbers stay as small as the hour's traffic.
        assert!(seen.iter().all(|id| id.seq <= 4_500));
    }

    #[test]
    fn without_counts_the_start_is_the_milliseconds_into_the_hour() {
        let start = SeqStart::from_clock(HOUR_START_MS + 754_321);
        assert_eq!(start.after("app-0"), 754_321);
        assert_eq!(
            SeqStart::from_clock(HOUR_START_MS - 1).after("x"),
            3_599_999
        );
    }

    #[test]
    fn the_wait_ends_once_the_counter_moved_by_what_was_sent_whatever_else_moves_it() {
        let soon = Duration::from_millis(100);
        assert_eq!(wait_step(1_000, 500, Some(1_499), soon), WaitStep::Wait);
        assert_eq!(
            wait_step(1_000, 500, Some(1_500), soon),
            WaitStep::Done { taken: 500 }
        );
        // Other clients keep the counter moving: the wait still ends.
        assert_eq!(
            wait_step(1_000, 500, Some(9_000), soon),
            WaitStep::Done { taken: 8_000 }
        );
        assert_eq!(wait_step(1_000, 500, None, soon), WaitStep::Wait);
    }

    #[test]
    fn the_wait_gives_up_when_short_after_its_time_or_when_the_counter_went_back() {
        assert_eq!(
            wait_step(1_000, 500, Some(1_200), COLLECTOR_WAIT),
            WaitStep::GiveUp { taken: Some(200) }
        );
        assert_eq!(
            wait_step(1_000, 500, None, COLLECTOR_WAIT),
            WaitStep::GiveUp { taken: None }
        );
        // Done wins over the time, so a run that just made it is not reported short.
        assert_eq!(
            wait_step(1_000, 500, Some(1_500), COLLECTOR_WAIT),
            WaitStep::Done { taken: 500 }
        );
        assert_eq!(
            wait_step(1_000, 500, Some(40), Duration::ZERO),
            WaitStep::Restarted { now: 40 }
        );
    }

    #[test]
    fn the_frame_counter_is_read_from_the_metrics_text() {
        let metrics = "# TYPE ocelot_frames_received counter\n\
                       ocelot_frames_received_total 1234\n\
                       ocelot_frames_received_created 1.7e9\n# EOF\n";
        assert_eq!(frames_in(metrics), Some(1234));
        assert_eq!(frames_in("ocelot_trees_accepted_total 5\n"), None);
    }

    /// Answers the web port as a busy server would: `/metrics` counts 1 000 more frames at
    /// every read (other clients' traffic), `/api/state` grows the same way and says `app-0`
    /// had 2 000 trees this hour. Runs until the test process ends.
    fn busy_web_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reads = AtomicU64::new(0);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = String::new();
                let mut reader = BufReader::new(&mut stream);
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let frames = 10_000 + 1_000 * reads.fetch_add(1, Ordering::Relaxed);
                let body = if request.contains("/metrics") {
                    format!("ocelot_frames_received_total {frames}\n# EOF\n")
                } else {
                    format!(
                        r#"{{"trees":{frames},"drops":0,"domains":{{"app-0":{{"trees":2000,"bytes":9}}}}}}"#
                    )
                };
                let _ = write!(stream, "HTTP/1.0 200 OK\r\n\r\n{body}");
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn loadgen_beside_other_traffic_finishes_and_numbers_after_the_hours_trees() {
        let web = busy_web_server();
        let collector = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = collector.local_addr().unwrap();
        let (bytes_tx, bytes_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = collector.accept().unwrap();
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).unwrap();
            bytes_tx.send(bytes).unwrap();
        });
        run(LoadgenArgs {
            target,
            rate: 0,
            trees: 50,
            connections: 1,
            domains: 1,
            names: 10,
            machines: None,
            full_data: false,
            messages: None,
            web: Some(web),
            gzip_baseline: false,
            spread_minutes: 0,
            domain_skew: 0.0,
        })
        .unwrap();
        let bytes = bytes_rx.recv().unwrap();
        let mut rest = &bytes[..];
        let mut seqs = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let tree = nt1::decode_body(&rest[4..4 + len]).unwrap();
            seqs.push(tree.header.message_id.parse::<MessageId>().unwrap().seq);
            rest = &rest[4 + len..];
        }
        assert_eq!(seqs.len(), 50);
        assert!(seqs.iter().all(|&seq| seq > 2_000), "{seqs:?}");
        assert!(seqs.contains(&2_001), "{seqs:?}");
    }

    #[test]
    fn a_skew_is_a_number_from_0_to_10() {
        assert_eq!(parse_skew("1"), Ok(1.0));
        assert_eq!(parse_skew("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "11", "x", ""] {
            assert!(parse_skew(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ranges_are_min_dash_max() {
        assert_eq!(parse_message_range("5-30"), Ok((5, 30)));
        assert_eq!(parse_message_range("7-7"), Ok((7, 7)));
        for bad in ["30", "30-5", "0-3", "a-9", "5-", "1-20000"] {
            assert!(parse_message_range(bad).is_err(), "{bad}");
        }
    }
}
