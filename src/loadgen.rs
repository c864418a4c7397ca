//! `ocelot loadgen`: realistic trees over several connections, for benchmarks and soak tests.
//!
//! Frames are encoded before the clock starts (one pool per connection), so the figures
//! measure the collector, not the generator.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use ocelot_protocol::nt1;
use ocelot_protocol::sample::SampleTrees;

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
            .domain_skew(args.domain_skew);
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
    let trees_before = args
        .web
        .as_deref()
        .map(|w| state_field(w, "trees").unwrap_or(0));
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
    if let (Some(web), Some(before)) = (&args.web, trees_before) {
        // Wait until the collector stops counting, then report its own rate.
        let mut last = before;
        let mut last_change = Instant::now();
        while last_change.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(100));
            if let Some(now) = state_field(web, "trees") {
                if now != last {
                    last = now;
                    last_change = Instant::now();
                }
            }
        }
        let busy = last_change.duration_since(started).as_secs_f64();
        println!(
            "collector processed {} trees in {busy:.2} s: {:.0} trees/s",
            last - before,
            (last - before) as f64 / busy
        );
    }
    if let Some(web) = &args.web {
        match crate::http::get(web, "/api/state?hour=current") {
            Ok(body) => report_collector_view(&body),
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

fn state_field(web: &str, field: &str) -> Option<u64> {
    let body = crate::http::get(web, "/api/state?hour=current").ok()?;
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()?
        .get(field)?
        .as_u64()
}

fn report_collector_view(body: &str) {
    let Ok(state) = serde_json::from_str::<serde_json::Value>(body) else {
        println!("collector answered something that is not JSON");
        return;
    };
    let get = |k: &str| {
        state
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    println!(
        "collector this hour: {} trees received, {} dropped, {} decode errors, {} out of window",
        get("trees"),
        get("drops"),
        get("decodeErrors"),
        get("outOfWindow")
    );
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
    use super::{parse_message_range, parse_skew};

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
