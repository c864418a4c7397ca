//! Helpers shared by the store's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod log;

use std::time::Duration;

use bytes::Bytes;
use ocelot_protocol::{nt1, Header, Leaf, Message, MessageId, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// The hour of the clock now.
pub fn clock_hour() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    ocelot_protocol::hour_of(ms as u64)
}

/// The hour of the real client captures; tests set retention off or use recent hours.
pub const HOUR: u64 = 498_703;

pub fn id(domain: &str, ip: u32, seq: u64) -> MessageId {
    MessageId::new(domain, ip, HOUR, seq)
}

/// An NT1 frame carrying `id`, with about `payload` bytes of event data, deterministic.
pub fn frame(id: &MessageId, payload: usize) -> Bytes {
    frame_with_header_domain(id, &id.domain, payload)
}

pub fn frame_with_header_domain(id: &MessageId, header_domain: &str, payload: usize) -> Bytes {
    let header = Header {
        domain: header_domain.into(),
        hostname: "host-1".into(),
        ip_address: "192.0.2.2".into(),
        thread_group_name: "main".into(),
        thread_id: "7".into(),
        thread_name: "worker-7".into(),
        message_id: id.to_string(),
        ..Header::default()
    };
    let mut root = Transaction::new(
        "URL",
        format!("/api/order/{}", id.seq % 17),
        1_795_330_800_000 + id.seq % 3_600_000,
    );
    root.duration_us = 1234 + id.seq % 1000;
    let mut sql = Transaction::new("SQL", "OrderMapper.select", root.timestamp_ms + 1);
    sql.duration_us = 321;
    sql.data = format!("SELECT * FROM orders WHERE id = {}", id.seq);
    root.children.push(Message::Transaction(sql));
    let mut left = payload;
    let mut i = 0;
    while left > 0 {
        let n = left.min(200);
        let data: String = (0..n)
            .map(|j| char::from(b'a' + ((id.seq as usize + i * 31 + j) % 26) as u8))
            .collect();
        root.children.push(Message::Event(Leaf::new(
            "Cache.get",
            format!("key-{i}"),
            "0",
            root.timestamp_ms + 2,
            data,
        )));
        left -= n;
        i += 1;
    }
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

/// A config for tests: retention off (fixed hours in the past), quick timers.
pub fn config(dir: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.retention_days = 0;
    config.flush_interval = Duration::from_millis(200);
    config
}

pub fn open(dir: &std::path::Path) -> Store {
    Store::open(config(dir)).unwrap()
}

/// A store whose blocks are written only when full or flushed (no timer in between), so a
/// test decides where blocks and index writes happen.
pub fn open_untimed(dir: &std::path::Path) -> Store {
    let mut config = config(dir);
    config.flush_interval = Duration::from_secs(3600);
    Store::open(config).unwrap()
}
