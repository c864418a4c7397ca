//! Realistic trees and store settings shared by the store benchmarks.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use ocelot_protocol::{nt1, Header, Leaf, Message, MessageId, MessageTree, Transaction};
use ocelot_store::StoreConfig;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub const HOUR: u64 = 498_703;
/// Trees in the append benchmark (about 25 MB of frames).
pub const APPEND_TREES: u64 = 10_000;
/// Trees stored for the lookup benchmarks.
pub const LOOKUP_TREES: u64 = 100_000;

/// A tree shaped like a web request: URL root, SQL and cache calls, an RPC, sometimes an
/// error with a stack trace. Names repeat as in real services; ids and values vary.
pub fn tree(rng: &mut SmallRng, id: &MessageId) -> Bytes {
    const URLS: [&str; 6] = [
        "/api/order",
        "/api/cart",
        "/api/pay",
        "/api/user/profile",
        "/health",
        "/api/search",
    ];
    const SQL: [&str; 5] = [
        "OrderMapper.select",
        "OrderMapper.insert",
        "CartMapper.update",
        "UserMapper.select",
        "StockMapper.lock",
    ];
    let header = Header {
        domain: id.domain.clone(),
        hostname: format!("web-{:02}", id.ip % 16),
        ip_address: id.ip_dotted(),
        thread_group_name: "http-nio-8080-exec".into(),
        thread_id: rng.gen_range(20..220).to_string(),
        thread_name: format!("http-nio-8080-exec-{}", rng.gen_range(1..200)),
        message_id: id.to_string(),
        parent_message_id: String::new(),
        root_message_id: String::new(),
        session_token: String::new(),
    };
    let t0 = HOUR * 3_600_000 + rng.gen_range(0..3_600_000);
    let mut root = Transaction::new("URL", URLS[rng.gen_range(0..URLS.len())], t0);
    root.children.push(Message::Event(Leaf::new(
        "URL",
        "URL.Server",
        "0",
        t0,
        format!(
            "IPS=10.1.{}.{}&VirtualIP=10.0.0.1&Server=web&Referer=null&Agent=Mozilla/5.0",
            rng.gen_range(0..255),
            rng.gen_range(0..255)
        ),
    )));
    for _ in 0..rng.gen_range(2..12) {
        let name = SQL[rng.gen_range(0..SQL.len())];
        let mut sql = Transaction::new("SQL", name, t0 + rng.gen_range(0..50));
        sql.duration_us = rng.gen_range(200..20_000);
        sql.data = format!("SELECT id, user_id, status, amount, created_at FROM orders WHERE user_id = {} AND status IN (1, 2, 3) ORDER BY created_at DESC LIMIT {}", rng.gen_range(1..10_000_000), rng.gen_range(1..50));
        sql.children.push(Message::Event(Leaf::new(
            "SQL.Database",
            "jdbc:mysql://db-3:3306/orders",
            "0",
            sql.timestamp_ms,
            "",
        )));
        sql.children.push(Message::Event(Leaf::new(
            "SQL.Method",
            "SELECT",
            "0",
            sql.timestamp_ms,
            "",
        )));
        root.children.push(Message::Transaction(sql));
        if rng.gen_bool(0.5) {
            root.children.push(Message::Event(Leaf::new(
                "Cache.redis",
                "user:profile",
                if rng.gen_bool(0.9) { "0" } else { "miss" },
                t0 + 3,
                format!("key=user:{}", rng.gen_range(1..1_000_000)),
            )));
        }
    }
    let mut rpc = Transaction::new("Call", "PaymentService.charge", t0 + 60);
    rpc.duration_us = rng.gen_range(1000..80_000);
    rpc.children.push(Message::Event(Leaf::new(
        "RemoteCall",
        "",
        "0",
        t0 + 60,
        format!(
            "payment-c0a80{:03x}-{HOUR}-{}",
            rng.gen_range(0..4096),
            rng.gen_range(0..100_000)
        ),
    )));
    root.children.push(Message::Transaction(rpc));
    if rng.gen_bool(0.05) {
        root.status = "java.lang.IllegalStateException".into();
        root.children.push(Message::Event(Leaf::new("Error", "java.lang.IllegalStateException", "ERROR", t0 + 70,
            "java.lang.IllegalStateException: stock locked\n\tat com.shop.order.OrderService.place(OrderService.java:212)\n\tat com.shop.order.OrderController.post(OrderController.java:88)\n\tat sun.reflect.GeneratedMethodAccessor12.invoke(Unknown Source)\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:882)\n")));
    } else {
        root.status = "0".into();
    }
    root.duration_us = rng.gen_range(1_000..200_000);
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

pub fn trees(n: u64, seed: u64) -> Vec<(MessageId, Bytes)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|seq| {
            let id = id_of(seq);
            let frame = tree(&mut rng, &id);
            (id, frame)
        })
        .collect()
}

pub fn config(dir: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.retention_days = 0;
    config.queue_capacity = 20_000;
    config.max_seq = 10_000_000;
    config
}

/// The ID of tree number `n`: eight clients (two per domain, each with its own IP)
/// take turns, and each numbers its own trees 0, 1, 2, ... as CAT clients do.
pub fn id_of(n: u64) -> MessageId {
    let client = n % 8;
    let domain = ["shop", "cart", "payment", "search"][(client % 4) as usize];
    MessageId::new(domain, 0xc0a8_0100 + client as u32, HOUR, n / 8)
}

/// Domains, client groups and root names of the collector benchmark's loadgen
/// (BENCHMARKS-collector.md: `--domains 50 --names 400 --connections 4`).
pub const LOADGEN_DOMAINS: usize = 50;
pub const LOADGEN_GROUPS: u8 = 4;

/// The loadgen's trees (`ocelot_protocol::sample::SampleTrees`, about 570 bytes as NT1):
/// 50 domains, four connections of eight IPs each (1600 clients, 32 index files per
/// domain-hour), each client numbering its own trees. The connections take turns.
pub struct LoadgenTrees {
    groups: Vec<ocelot_protocol::sample::SampleTrees>,
    turn: usize,
}

impl LoadgenTrees {
    pub fn new(seed: u64) -> LoadgenTrees {
        let start_ms = HOUR * 3_600_000 + 1_000;
        LoadgenTrees {
            groups: (0..LOADGEN_GROUPS)
                .map(|g| {
                    ocelot_protocol::sample::SampleTrees::new(
                        seed + u64::from(g),
                        LOADGEN_DOMAINS,
                        400,
                        start_ms,
                    )
                    .for_client_group(g)
                })
                .collect(),
            turn: 0,
        }
    }

    /// The next `n` frames with their IDs.
    pub fn take(&mut self, n: usize) -> Vec<(MessageId, Bytes)> {
        (0..n)
            .map(|_| {
                let turn = self.turn % self.groups.len();
                let group = &mut self.groups[turn];
                self.turn += 1;
                let tree = group.tree();
                let id: MessageId = tree.header.message_id.parse().expect("sample IDs parse");
                (id, nt1::encode_to_bytes(&tree))
            })
            .collect()
    }
}

/// The frames cut into the blocks the store would make: per domain, at most 64 KiB each.
pub fn blocks_per_domain(frames: &[(MessageId, Bytes)]) -> Vec<Vec<u8>> {
    let mut open: std::collections::HashMap<&str, Vec<u8>> = std::collections::HashMap::new();
    let mut done = Vec::new();
    for (id, f) in frames {
        let block = open.entry(id.domain.as_str()).or_default();
        if !block.is_empty() && block.len() + f.len() > 64 * 1024 {
            done.push(std::mem::take(block));
        }
        block.extend_from_slice(f);
    }
    done.extend(open.into_values().filter(|b| !b.is_empty()));
    done
}

/// CPU time (ns) the threads whose name starts with `prefix` have used so far, from
/// `/proc/self/task/*/schedstat` (Linux only; 0 elsewhere).
pub fn thread_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time (ns) of the calling thread so far.
pub fn own_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
