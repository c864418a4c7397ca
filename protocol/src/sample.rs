//! Realistic synthetic trees for benchmarks, the load generator and tests.
//!
//! Deterministic from a seed (a tiny xorshift generator, so the crate stays dependency-free):
//! a URL, Service or Call root with 3 to 30 messages of SQL, Cache and RPC children and their
//! events, CAT-style names and data, and an occasional failure.

use crate::message::{Header, Leaf, Message, MessageTree, Transaction, SUCCESS};
use crate::message_id::{hour_of, MessageId};

/// A deterministic source of sample trees.
#[derive(Debug, Clone)]
pub struct SampleTrees {
    state: u64,
    /// Each simulated client (domain, IP) numbers its own trees from 1, as CAT clients do
    /// (or from after [`SampleTrees::seqs_after`]).
    seqs: std::collections::HashMap<(usize, u32), u64>,
    /// The number each domain's clients count up from, by domain index (none: 0).
    seqs_after: Vec<u64>,
    /// The simulated machines' IPs (by default `10.0.0.1..=8`), one picked per tree.
    ips: Vec<u32>,
    domains: Vec<String>,
    names: u64,
    /// Timestamp of the next root, epoch milliseconds; advances a little per tree.
    pub now_ms: u64,
    /// Root names stay distinct after URL normalisation (see [`SampleTrees::distinct_names`]).
    distinct_names: bool,
    /// Data the size real clients send (see [`SampleTrees::full_data`]).
    full_data: bool,
    /// Messages per tree, drawn evenly from this range (see [`SampleTrees::messages`]).
    messages: Option<(u64, u64)>,
    /// Running totals of the domains' weights, when they are not even (see
    /// [`SampleTrees::domain_skew`]).
    domain_weights: Option<Vec<u64>>,
}

/// A browser's `User-Agent`, as CAT's URL.Server event carries it.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// Full statements for [`SQL`]'s names, as CAT's JDBC plugins record them.
const SQL_TEXT: [&str; 6] = [
    "INSERT INTO orders (uid, shop_id, amount, currency, status, channel, coupon_id, \
     created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, NOW(), NOW())",
    "SELECT o.id, o.uid, o.amount, o.status, o.created_at, i.sku, i.quantity, i.price \
     FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = ? ORDER BY i.id",
    "SELECT id, name, email, phone, level, status, last_login_at FROM users \
     WHERE name = ? AND deleted = 0 LIMIT 1",
    "SELECT c.sku, c.quantity, p.title, p.price, p.stock FROM cart_items c \
     JOIN products p ON p.sku = c.sku WHERE c.uid = ? ORDER BY c.updated_at DESC LIMIT 100",
    "UPDATE payments SET status = ?, paid_at = NOW(), trade_no = ?, version = version + 1 \
     WHERE order_id = ? AND version = ?",
    "UPDATE inventory SET locked = locked + ?, version = version + 1 \
     WHERE sku = ? AND stock - locked >= ? AND version = ?",
];

/// The frames of a Java stack trace under a client timeout.
const STACK: [&str; 12] = [
    "java.net.SocketInputStream.socketRead0(Native Method)",
    "java.net.SocketInputStream.read(SocketInputStream.java:171)",
    "org.apache.http.impl.io.SessionInputBufferImpl.fillBuffer(SessionInputBufferImpl.java:153)",
    "org.apache.http.impl.io.SessionInputBufferImpl.readLine(SessionInputBufferImpl.java:280)",
    "org.apache.http.impl.conn.DefaultHttpResponseParser.parseHead(DefaultHttpResponseParser.java:138)",
    "org.apache.http.impl.DefaultBHttpClientConnection.receiveResponseHeader(DefaultBHttpClientConnection.java:163)",
    "org.apache.http.protocol.HttpRequestExecutor.doReceiveResponse(HttpRequestExecutor.java:273)",
    "org.apache.http.impl.execchain.MainClientExec.execute(MainClientExec.java:272)",
    "com.example.payment.client.PaymentClient.pay(PaymentClient.java:88)",
    "com.example.order.service.OrderService.checkout(OrderService.java:214)",
    "com.example.order.web.OrderController.create(OrderController.java:57)",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
];

const URLS: [&str; 8] = [
    "/api/order/create",
    "/api/order/{id}",
    "/api/user/login",
    "/api/cart",
    "/api/payment/pay",
    "/api/search",
    "/health",
    "/api/inventory/check",
];
const SQL: [&str; 6] = [
    "OrderDao.insert",
    "OrderDao.findById",
    "UserDao.findByName",
    "CartDao.list",
    "PaymentDao.update",
    "InventoryDao.lock",
];

impl SampleTrees {
    /// Trees over `domains` domains named `app-0`.., with about `names` distinct root names
    /// each, starting at `now_ms`.
    pub fn new(seed: u64, domains: usize, names: u64, now_ms: u64) -> Self {
        SampleTrees {
            state: seed | 1,
            seqs: std::collections::HashMap::new(),
            seqs_after: Vec::new(),
            ips: (1..=8).map(|i| 0x0a00_0000 | i).collect(),
            domains: (0..domains.max(1)).map(|i| format!("app-{i}")).collect(),
            names: names.max(1),
            now_ms,
            distinct_names: false,
            full_data: false,
            messages: None,
            domain_weights: None,
        }
    }

    /// Domains that send unevenly: domain `i` (from 0) sends in proportion to
    /// `1 / (i + 1)^s` (Zipf's law; `s = 1`: `app-0` twice what `app-1` sends, ten times
    /// what `app-9` does). `s = 0` keeps them even.
    #[must_use]
    pub fn domain_skew(mut self, s: f64) -> Self {
        self.domain_weights = (s > 0.0).then(|| {
            let mut total = 0u64;
            (0..self.domains.len())
                .map(|i| {
                    total += ((1u64 << 32) as f64 / ((i + 1) as f64).powf(s)).max(1.0) as u64;
                    total
                })
                .collect()
        });
        self
    }

    /// Trees of `min..=max` messages, the count drawn evenly per tree, where the default
    /// trees have 3 to 30 with most near 9 (1 to 6 calls under the root). The root gets
    /// calls until the tree has its count; the last ones are cache calls (one message)
    /// when a bigger call would overshoot. `min` is raised to the 4 messages the smallest
    /// such tree has (root, its `URL.Server` event and one call; 5 with [`full_data`]).
    ///
    /// [`full_data`]: SampleTrees::full_data
    #[must_use]
    pub fn messages(mut self, min: u64, max: u64) -> Self {
        self.messages = Some((min, max.max(min)));
        self
    }

    /// Data fields the size real clients fill them: full SQL statements and their
    /// parameters, URLs with query strings, user agents, RPC arguments and whole stack
    /// traces, where the default trees carry short placeholders. A tree then averages about
    /// 1.4 KB (126 bytes a message) instead of about 580 (64 a message).
    #[must_use]
    pub fn full_data(mut self) -> Self {
        self.full_data = true;
        self
    }

    /// Simulates clients on their own IPs (`10.0.<index>.1..=8`), so several generators
    /// make distinct message IDs while each client still numbers its trees 1, 2, 3...
    #[must_use]
    pub fn for_client_group(mut self, index: u8) -> Self {
        self.ips = (1..=8)
            .map(|i| 0x0a00_0000 | u32::from(index) << 8 | i)
            .collect();
        self
    }

    /// Simulates share `share` of `shares` of a population of `machines` clients per domain
    /// (`10.0.<i / 250>.<i % 250 + 1>` for `i` in `0..machines`): machine `i` belongs to share
    /// `i % shares`, so generators that split one population between them (the load
    /// generator's connections) make distinct message IDs, and their number does not change
    /// how many machines the reports see. A share with no machine of its own (more shares
    /// than machines) simulates none, and [`SampleTrees::tree`] then panics.
    #[must_use]
    pub fn machine_share(mut self, share: u32, shares: u32, machines: u32) -> Self {
        self.ips = (0..machines)
            .filter(|i| i % shares.max(1) == share)
            .map(|i| 0x0a00_0000 | (i / 250) << 8 | (i % 250 + 1))
            .collect();
        self
    }

    /// Clients of `domain` number their trees from `taken(domain) + 1` instead of 1, so that
    /// trees made after others of the same hour (an earlier load generator run) get message
    /// IDs of their own: the store keeps the first tree of an ID and drops the rest.
    #[must_use]
    pub fn seqs_after(mut self, taken: impl Fn(&str) -> u64) -> Self {
        self.seqs_after = self.domains.iter().map(|d| taken(d)).collect();
        self
    }

    /// Root names `/api/cart/v17` instead of `/api/cart/17`: the analyzers fold numeric URL
    /// segments into `{num}`, which leaves 8 URL names however many were asked for; with
    /// this, `names` distinct names per domain reach the reports (the load generator's
    /// cardinality test).
    #[must_use]
    pub fn distinct_names(mut self) -> Self {
        self.distinct_names = true;
        self
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: good enough to vary shapes, not for anything else.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A latency in microseconds: mostly around `typical_ms`, with a long tail.
    fn latency_us(&mut self, typical_ms: u64) -> u64 {
        let base = typical_ms * 1000 / 2 + self.below(typical_ms * 1000 + 1);
        if self.below(100) == 0 {
            base * (5 + self.below(20))
        } else {
            base
        }
    }

    /// The next tree.
    pub fn tree(&mut self) -> MessageTree {
        let draw = self.next();
        let pick = match &self.domain_weights {
            None => (draw % self.domains.len() as u64) as usize,
            Some(totals) => {
                let at = draw % totals.last().copied().unwrap_or(1);
                totals.partition_point(|&t| t <= at)
            }
        };
        let domain = self.domains[pick].clone();
        let pick_ip = self.below(self.ips.len() as u64) as usize;
        let ip = self.ips[pick_ip];
        self.now_ms += self.below(3);
        let ts = self.now_ms;
        let seq = {
            let first = self.seqs_after.get(pick).copied().unwrap_or(0);
            let next = self.seqs.entry((pick, ip)).or_insert(first);
            *next = next.saturating_add(1);
            *next
        };
        let id = MessageId::new(domain.clone(), ip, hour_of(ts), seq);
        let name_index = self.below(self.names);
        let url = URLS[(name_index % URLS.len() as u64) as usize];
        let root_name = if self.distinct_names {
            format!("{url}/v{name_index}")
        } else if self.names > URLS.len() as u64 {
            format!("{url}/{name_index}")
        } else {
            url.to_owned()
        };
        let mut root = Transaction::new("URL", root_name, ts);
        root.data = format!("method=GET&uid={}", self.below(100_000));
        let server_data = if self.full_data {
            let client = self.below(1 << 16);
            format!(
                "IPS=10.{}.{}.{}&VirtualIP=10.1.2.3&Server=host-{}&Referer=https://www.example.\
                 com/shop/items/{}?from=search&q=phone+case&Agent={USER_AGENT}",
                client >> 8,
                client & 0xff,
                self.below(250) + 1,
                ip & 0xff,
                self.below(1_000_000),
            )
        } else {
            "Client=10.0.0.7&Referer=null".to_owned()
        };
        root.children.push(Message::Event(Leaf::new(
            "URL.Server",
            "10.1.2.3",
            SUCCESS,
            ts,
            server_data,
        )));
        if self.full_data {
            let uid = self.below(100_000_000);
            let page = self.below(50);
            root.data = format!("{url}?uid={uid}&page={page}&size=20&sort=created_at,desc&channel=app&appVersion=10.3.{}", self.below(20));
            root.children.push(Message::Event(Leaf::new(
                "URL.Method",
                "HTTP/GET",
                SUCCESS,
                ts,
                format!("https://www.example.com{url}?uid={uid}&page={page}&size=20&sort=created_at,desc&channel=app"),
            )));
        }
        let mut offset_us = 200;
        // Default trees: 1 to 6 calls. With `messages`: calls until the tree has its count.
        let children = match self.messages {
            None => Some(1 + self.below(6)),
            Some(_) => None,
        };
        let target = self.messages.map(|(min, max)| {
            let min = min.max(root.children.len() as u64 + 2);
            min + self.below(max.max(min) - min + 1)
        });
        let mut messages = 1 + root.children.len() as u64;
        let mut made = 0;
        loop {
            let room = match (children, target) {
                (Some(children), _) if made == children => break,
                (_, Some(target)) if messages >= target => break,
                (_, target) => target.map(|t| t - messages),
            };
            made += 1;
            let child_ts = ts + offset_us / 1000;
            let sql_messages = if self.full_data { 3 } else { 2 };
            let kind = match room {
                // Only a cache call (one message) fits.
                Some(room) if room < sql_messages => 1,
                Some(room) if room < 3 => [0, 1][self.below(2) as usize],
                _ => self.below(3),
            };
            let child = match kind {
                0 => {
                    let statement = self.below(6) as usize;
                    let mut sql = Transaction::new("SQL", SQL[statement], child_ts);
                    sql.duration_us = self.latency_us(3);
                    sql.data = "SELECT id, uid, amount FROM orders WHERE id = ?".to_owned();
                    sql.children.push(Message::Event(Leaf::new(
                        "SQL.Database",
                        "jdbc:mysql://db1:3306/orders",
                        SUCCESS,
                        child_ts,
                        "",
                    )));
                    if self.full_data {
                        SQL_TEXT[statement].clone_into(&mut sql.data);
                        let (a, b) = (self.below(1 << 40), self.below(100_000_000));
                        sql.children.push(Message::Event(Leaf::new(
                            "SQL.Method",
                            SQL_TEXT[statement].split(' ').next().unwrap_or("SELECT"),
                            SUCCESS,
                            child_ts,
                            format!("{a},{b},'CNY',1,'app',{}", self.below(1000)),
                        )));
                    }
                    sql
                }
                1 => {
                    let mut cache = Transaction::new("Cache.redis", "order:get", child_ts);
                    cache.duration_us = self.latency_us(1);
                    cache.data = format!("key=order:{}", self.below(10_000));
                    cache
                }
                _ => {
                    let mut call = Transaction::new("Call", "PaymentService.pay", child_ts);
                    call.duration_us = self.latency_us(20);
                    call.children.push(Message::Event(Leaf::new(
                        "Call.server",
                        "10.0.0.5",
                        SUCCESS,
                        child_ts,
                        "",
                    )));
                    if self.full_data {
                        call.data = format!(
                            "service=http://payment.example.com/payment/PaymentService_1.0.0\
                             &method=pay&args=[orderId={},amount={}.{:02},currency=CNY]&timeout=1000",
                            self.below(1 << 40),
                            self.below(10_000),
                            self.below(100),
                        );
                    }
                    call.children.push(Message::Event(Leaf::new(
                        "RemoteCall",
                        "PaymentService.pay",
                        SUCCESS,
                        child_ts,
                        format!("payment-{:08x}-{}-{}", ip, hour_of(ts), seq),
                    )));
                    call
                }
            };
            let mut child = child;
            let child_messages = 1 + child.children.len() as u64;
            messages += child_messages;
            let fits_failure = room.is_none_or(|room| room > child_messages);
            if self.below(50) == 0 && fits_failure {
                messages += 1;
                child.status = "java.net.SocketTimeoutException".to_owned();
                root.status = "ERROR".to_owned();
                let trace = if self.full_data {
                    let mut trace = "java.net.SocketTimeoutException: Read timed out\n".to_owned();
                    for frame in STACK {
                        trace.push_str("\tat ");
                        trace.push_str(frame);
                        trace.push('\n');
                    }
                    trace
                } else {
                    "java.net.SocketTimeoutException: Read timed out\n\tat Client.call(Client.java:42)\n"
                        .to_owned()
                };
                root.children.push(Message::Event(Leaf::new(
                    "Exception",
                    "java.net.SocketTimeoutException",
                    "ERROR",
                    child_ts,
                    trace,
                )));
            }
            offset_us += child.duration_us + 100;
            root.children.push(Message::Transaction(child));
        }
        root.duration_us = offset_us + self.below(2000);
        let header = Header {
            domain,
            hostname: format!("host-{}", ip & 0xff),
            ip_address: std::net::Ipv4Addr::from(ip).to_string(),
            thread_group_name: "http".to_owned(),
            thread_id: (40 + self.below(200)).to_string(),
            thread_name: "http-nio-8080-exec".to_owned(),
            message_id: id.to_string(),
            ..Header::default()
        };
        MessageTree::new(header, Message::Transaction(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_domains_send_by_zipf_and_no_skew_changes_nothing() {
        let mut skewed = SampleTrees::new(3, 10, 10, 1_795_331_315_581).domain_skew(1.0);
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            let domain = skewed.tree().header.domain;
            counts[domain["app-".len()..].parse::<usize>().unwrap()] += 1;
        }
        // 1/rank over 10 domains: app-0 sends 1/H(10) = 34 % of the trees, app-9 3.4 %.
        let share = |i: usize| f64::from(counts[i]) / 20_000.0;
        assert!((share(0) - 0.341).abs() < 0.02, "{counts:?}");
        assert!((share(9) - 0.0341).abs() < 0.01, "{counts:?}");
        assert!(counts.windows(2).all(|w| w[0] + 200 > w[1]), "{counts:?}");
        // Skew 0 draws exactly the trees the default does.
        let mut even = SampleTrees::new(3, 10, 10, 1_795_331_315_581).domain_skew(0.0);
        let mut default = SampleTrees::new(3, 10, 10, 1_795_331_315_581);
        for _ in 0..100 {
            assert_eq!(even.tree(), default.tree());
        }
    }

    #[test]
    fn sample_trees_have_three_to_thirty_messages_and_valid_ids() {
        let mut samples = SampleTrees::new(7, 3, 10, 1_795_331_315_581);
        for _ in 0..1000 {
            let tree = samples.tree();
            let n = tree.message_count();
            assert!((3..=30).contains(&n), "{n}");
            let id: MessageId = tree.header.message_id.parse().unwrap();
            assert_eq!(id.domain, tree.header.domain);
        }
    }

    #[test]
    fn clients_number_their_trees_after_the_count_given_for_their_domain() {
        let ids = |taken: fn(&str) -> u64| {
            let mut samples = SampleTrees::new(7, 2, 10, 1_795_331_315_581).seqs_after(taken);
            (0..200)
                .map(|_| {
                    samples
                        .tree()
                        .header
                        .message_id
                        .parse::<MessageId>()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let from_one = ids(|_| 0);
        let after = ids(|d| if d == "app-0" { 5_000 } else { 70 });
        for (a, b) in from_one.iter().zip(&after) {
            let shift = if a.domain == "app-0" { 5_000 } else { 70 };
            assert_eq!((&b.domain, b.ip, b.seq), (&a.domain, a.ip, a.seq + shift));
        }
        assert!(from_one.iter().any(|id| id.seq == 1));
    }

    #[test]
    fn machine_shares_split_one_population_without_sharing_an_ip() {
        let ips = |share| {
            let mut samples = SampleTrees::new(u64::from(share) + 1, 1, 10, 1_795_331_315_581)
                .machine_share(share, 3, 8);
            (0..400)
                .map(|_| samples.tree().header.ip_address)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let shares: Vec<_> = (0..3).map(ips).collect();
        assert_eq!(shares[0].len(), 3, "machines 0, 3 and 6");
        assert_eq!(shares[2].len(), 2, "machines 2 and 5");
        let all: std::collections::BTreeSet<_> = shares.iter().flatten().collect();
        assert_eq!(all.len(), 8, "each machine in exactly one share");
        assert!(all.contains(&"10.0.0.1".to_owned()) && all.contains(&"10.0.0.8".to_owned()));
    }

    #[test]
    fn full_data_trees_are_valid_and_carry_realistic_sizes() {
        let mut bytes = [0usize; 2];
        for (full, total) in bytes.iter_mut().enumerate() {
            let mut samples = SampleTrees::new(3, 5, 40, 1_795_331_315_581);
            if full == 1 {
                samples = samples.full_data();
            }
            for _ in 0..500 {
                let tree = samples.tree();
                let mut frame = Vec::new();
                crate::nt1::encode(&tree, &mut frame);
                *total += frame.len();
                let decoded = crate::nt1::decode_body(&frame[4..]).unwrap();
                assert_eq!(decoded, tree);
            }
        }
        let (plain, full) = (bytes[0] / 500, bytes[1] / 500);
        assert!((450..750).contains(&plain), "{plain} bytes a default tree");
        assert!(
            (1100..1800).contains(&full),
            "{full} bytes a full-data tree"
        );
    }

    #[test]
    fn trees_can_be_asked_for_a_range_of_message_counts() {
        for full in [false, true] {
            let mut samples = SampleTrees::new(11, 3, 10, 1_795_331_315_581).messages(5, 30);
            if full {
                samples = samples.full_data();
            }
            let counts: Vec<usize> = (0..3000).map(|_| samples.tree().message_count()).collect();
            assert!(counts.iter().all(|n| (5..=30).contains(n)), "{counts:?}");
            let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
            assert!((16.0..19.0).contains(&mean), "mean {mean}");
            for n in [5, 17, 30] {
                assert!(counts.contains(&n), "{n} messages never drawn");
            }
        }
    }
}
