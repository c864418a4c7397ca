//! Test inputs: the real C-client frames and generated trees.

use ocelot_protocol::{
    decode_frame, DecodeOptions, Header, Leaf, Message, MessageTree, Transaction,
};
use proptest::prelude::*;

/// The captured NT1 frame `binary/NNNN.bin`, decoded.
pub(crate) fn binary_frame(n: usize) -> MessageTree {
    let path = format!(
        "{}/../protocol/tests/data/cat-c-client/binary/{n:04}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    decode_frame(&bytes, &DecodeOptions::default()).unwrap()
}

/// All 29 captured NT1 frames, in arrival order.
pub(crate) fn binary_frames() -> Vec<MessageTree> {
    (1..=29).map(binary_frame).collect()
}

/// A header for `domain`, machine `ip` and message ID `id`.
pub(crate) fn header(domain: &str, ip: &str, id: &str) -> Header {
    Header {
        domain: domain.into(),
        ip_address: ip.into(),
        message_id: id.into(),
        ..Header::default()
    }
}

/// A tree with a transaction root.
pub(crate) fn tree(domain: &str, ip: &str, id: &str, root: Transaction) -> MessageTree {
    MessageTree::new(header(domain, ip, id), Message::Transaction(root))
}

/// A transaction with a duration and status.
pub(crate) fn transaction(
    type_: &str,
    name: &str,
    timestamp_ms: u64,
    duration_us: u64,
    status: &str,
) -> Transaction {
    let mut t = Transaction::new(type_, name, timestamp_ms);
    t.duration_us = duration_us;
    t.status = status.into();
    t
}

/// One generated message: where and what.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) machine: usize,
    pub(crate) type_: usize,
    pub(crate) name: usize,
    pub(crate) duration_us: u64,
    pub(crate) failed: bool,
    pub(crate) minute: u64,
}

/// Hour 498703's first millisecond (the captured frames' hour).
pub(crate) const HOUR_START_MS: u64 = 498_703 * 3_600_000;

pub(crate) const TYPES: [&str; 4] = ["URL", "SQL", "Cache.redis", "Service"];
pub(crate) const EVENT_TYPES: [&str; 3] = ["Exception", "RemoteCall", "Error"];

/// Turns samples into trees: each a root transaction holding one event, one metric and,
/// for every third sample, a nested transaction of the next type.
pub(crate) fn trees_of(samples: &[Sample]) -> Vec<MessageTree> {
    samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ts = HOUR_START_MS + s.minute * 60_000 + i as u64;
            let status = if s.failed { "ERROR" } else { "0" };
            let mut root = transaction(
                TYPES[s.type_ % TYPES.len()],
                &format!("name-{}", s.name),
                ts,
                s.duration_us,
                status,
            );
            root.children.push(Message::Event(Leaf::new(
                EVENT_TYPES[s.type_ % EVENT_TYPES.len()],
                format!("e-{}", s.name),
                status,
                ts,
                "",
            )));
            root.children.push(Message::Metric(Leaf::new(
                "",
                format!("m-{}", s.name),
                "S,C",
                ts,
                format!("2,{}", s.duration_us / 1000),
            )));
            if i % 3 == 0 {
                root.children.push(Message::Transaction(transaction(
                    TYPES[(s.type_ + 1) % TYPES.len()],
                    &format!("nested-{}", s.name),
                    ts,
                    s.duration_us / 3,
                    "0",
                )));
            }
            tree(
                "shop",
                &format!("10.0.0.{}", s.machine),
                &format!("shop-0a000001-498703-{i}"),
                root,
            )
        })
        .collect()
}

/// Samples spread over 3 machines, 4 types, 5 names, durations up to 100 s.
pub(crate) fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec(
        (
            0..3usize,
            0..4usize,
            0..5usize,
            prop_oneof![0..2_000u64, 0..100_000_000u64],
            prop::bool::weighted(0.2),
            0..60u64,
        )
            .prop_map(
                |(machine, type_, name, duration_us, failed, minute)| Sample {
                    machine,
                    type_,
                    name,
                    duration_us,
                    failed,
                    minute,
                },
            ),
        1..120,
    )
}

/// The value of rank `ceil(q * n)` of `values` (sorted in place).
pub(crate) fn exact_quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
