//! `ocelot serve --demo`: four simulated services written with our SDK, calling each other
//! in this process so every board, LogView's cross-service links and the heartbeat page fill
//! within a minute.
//!
//! ```text
//! gateway (2 machines) ──Call──> order-service ──Call──> payment-service
//!        └──────────────Call──> user-service
//! ```
//! Each call carries CAT's three IDs (root, parent, child) from the caller's `RemoteCall`
//! event to the callee's tree, as a real RPC framework would in its headers. Latencies are
//! long-tailed, a few percent of payments fail with stack-like data, and about one request in
//! a hundred is a slow outlier.
//!
//! Without an `[alert] rules` file the demo evaluates [`DEMO_ALERT_RULES`], tuned to that
//! traffic so the Alerts page shows rules firing, resolving and staying quiet.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{bounded, Receiver, Sender};
use ocelot_alert::RuleSet;
use ocelot_client::{event, metric_count, metric_duration, transaction, Client, Context};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::DemoSection;

/// The demo's alert rules (docs/alerting.md), used when no rules file is configured. Tuned
/// to the default 20 requests per second: about 360 payments a minute, 3 % of them failing
/// (so near 11 declined), and a p95 of the gateway's order creation of 70-80 ms. No `notify`:
/// the demo has no webhook to call, so alerts are only recorded.
pub(crate) const DEMO_ALERT_RULES: &str = r#"
# Most minutes are above 2 %, some are not: fires within minutes, and resolves now and then.
[[rule]]
id = "payment-errors"
domain = "payment-service"
report = "transaction"
type = "Service"
name = "PaymentService.pay"
measure = "failPercent"
above = 2.0
for_minutes = 2

# Near the usual p95: pending often, firing when a slow spell lasts.
[[rule]]
id = "order-create-slow"
domain = "gateway"
report = "transaction"
type = "URL"
name = "/api/order/create"
measure = "p95"
above = 80.0
for_minutes = 2

# A business metric: a burst of declined payments.
[[rule]]
id = "declines-burst"
domain = "payment-service"
report = "metric"
name = "payment.declined"
measure = "value"
above = 15.0
for_minutes = 1

# Stays ok while the demo runs: the gateway stops serving.
[[rule]]
id = "gateway-silent"
domain = "gateway"
report = "transaction"
type = "URL"
measure = "count"
below = 1.0
for_minutes = 2
"#;

/// [`DEMO_ALERT_RULES`], parsed.
pub(crate) fn alert_rules() -> RuleSet {
    RuleSet::from_toml_str(DEMO_ALERT_RULES, None).expect("the demo's alert rules are valid")
}

/// A request from one simulated service to another.
struct Request {
    context: Option<Context>,
    operation: &'static str,
    reply: Sender<Result<(), String>>,
}

/// A failure with a cause, so `error!` records a chain as real services do.
#[derive(Debug)]
struct DemoError {
    message: &'static str,
    source: Option<std::io::Error>,
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// The running demo.
pub(crate) struct Demo {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    clients: Vec<Client>,
}

fn client(
    domain: &str,
    ip: [u8; 4],
    collector: SocketAddr,
    heartbeat: Duration,
    marks: &Path,
) -> Client {
    let client = Client::builder()
        .domain(domain)
        .collectors([collector.to_string()])
        .ip(Ipv4Addr::from(ip))
        .hostname(format!("{domain}-{}", ip[3]))
        .heartbeat_interval(Some(heartbeat))
        .mark_dir(marks)
        .build();
    // The first beat now, not on the interval's grid: the heartbeat page fills at once.
    ocelot_client::send_heartbeat(&client);
    client
}

/// Sleeps a long-tailed time around `typical_ms`; about one call in a hundred is 5-20x slower.
fn work(rng: &mut SmallRng, typical_ms: f64) -> f64 {
    let spread: f64 = (0..4).map(|_| rng.gen::<f64>()).sum::<f64>() / 2.0; // ~0..2, mean 1
    let mut ms = typical_ms * (0.3 + spread * spread);
    if rng.gen_ratio(1, 100) {
        ms *= rng.gen_range(5.0..20.0);
    }
    std::thread::sleep(Duration::from_micros((ms * 1000.0) as u64));
    ms
}

/// Calls `operation` on another service: a `Call` transaction, the `RemoteCall` linkage, and
/// a bounded wait for the answer.
fn call(
    rng: &mut SmallRng,
    service: &'static str,
    server_ip: &str,
    operation: &'static str,
    to: &Sender<Request>,
) -> Result<(), String> {
    let t = transaction!("Call", operation);
    event!("Call.server", server_ip.to_owned());
    event!("Call.app", service);
    let context = Context::for_remote_call(service, operation);
    let (reply, answer) = bounded(1);
    let request = Request {
        context,
        operation,
        reply,
    };
    let _ = rng;
    let result = match to.send_timeout(request, Duration::from_secs(1)) {
        Err(_) => Err("service busy".to_owned()),
        Ok(()) => answer
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| Err("timeout".to_owned())),
    };
    if let Err(e) = &result {
        t.set_status(if e == "timeout" {
            "java.net.SocketTimeoutException"
        } else {
            "ERROR"
        });
    }
    result
}

fn sql(rng: &mut SmallRng, name: &'static str, statement: &'static str, typical_ms: f64) {
    let t = transaction!("SQL", name);
    event!("SQL.Database", "jdbc:mysql://db1:3306/shop");
    event!(
        "SQL.Method",
        statement.split_whitespace().next().unwrap_or("SELECT")
    );
    t.add_data("sql", statement);
    work(rng, typical_ms);
}

fn cache(rng: &mut SmallRng, prefix: &'static str, keys: u32) {
    let key = rng.gen_range(1..keys);
    let t = transaction!("Cache.redis", format!("{prefix}:get"));
    event!("Cache.redis.server", "10.0.9.9:6379");
    t.add_data("key", format_args!("{prefix}:{key}"));
    work(rng, 0.8);
}

fn serve_requests(
    client: Client,
    requests: Receiver<Request>,
    stop: Arc<AtomicBool>,
    seed: u64,
    handler: impl Fn(&mut SmallRng, &'static str) -> Result<(), String>,
) {
    client.bind_to_current_thread();
    let mut rng = SmallRng::seed_from_u64(seed);
    while !stop.load(Ordering::Relaxed) {
        let Ok(request) = requests.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        // Held while the handler runs: its tree takes the caller's IDs.
        let _adopted = request.context.map(Context::adopt);
        let result = handler(&mut rng, request.operation);
        let _ = request.reply.send(result);
    }
}

impl Demo {
    /// Starts the simulated services, sending to `collector`.
    pub(crate) fn start(
        collector: SocketAddr,
        config: &DemoSection,
        data_dir: &Path,
    ) -> anyhow::Result<Demo> {
        let marks = data_dir.join("demo-marks");
        std::fs::create_dir_all(&marks)
            .with_context(|| format!("creating the demo's mark directory {}", marks.display()))?;
        let heartbeat = Duration::from_secs(config.heartbeat_secs.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let gateway_a = client("gateway", [10, 0, 1, 1], collector, heartbeat, &marks);
        let gateway_b = client("gateway", [10, 0, 1, 2], collector, heartbeat, &marks);
        let orders = client("order-service", [10, 0, 2, 1], collector, heartbeat, &marks);
        let payments = client(
            "payment-service",
            [10, 0, 3, 1],
            collector,
            heartbeat,
            &marks,
        );
        let users = client("user-service", [10, 0, 4, 1], collector, heartbeat, &marks);

        let (payment_tx, payment_rx) = bounded::<Request>(64);
        let (order_tx, order_rx) = bounded::<Request>(64);
        let (user_tx, user_rx) = bounded::<Request>(64);

        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(format!("demo-{name}"))
                .spawn(f)
                .expect("spawning a demo thread")
        };

        for i in 0..3 {
            let (c, rx, stop) = (payments.clone(), payment_rx.clone(), stop.clone());
            threads.push(spawn(
                "payment",
                Box::new(move || {
                    serve_requests(c, rx, stop, 100 + i, |rng, op| {
                        let t = transaction!("Service", op);
                        event!("Service.app", "order-service"); // the caller, as RPC plugins log it
                        t.add_data("orderId", rng.gen_range(10_000..99_999));
                        sql(
                            rng,
                            "PaymentDao.update",
                            "UPDATE payment SET state = ? WHERE id = ?",
                            4.0,
                        );
                        let ms = work(rng, 25.0);
                        metric_duration!("payment.latency", ms as u64);
                        if rng.gen_ratio(3, 100) {
                            let err = DemoError {
                                message: "payment declined: insufficient funds",
                                source: Some(std::io::Error::other("bank gateway answered 402")),
                            };
                            ocelot_client::error!(&err);
                            metric_count!("payment.declined");
                            return Err(err.to_string());
                        }
                        metric_count!("payment.succeeded");
                        Ok(())
                    });
                }),
            ));
        }
        for i in 0..3 {
            let (c, rx, stop) = (orders.clone(), order_rx.clone(), stop.clone());
            let payment_tx = payment_tx.clone();
            threads.push(spawn(
                "order",
                Box::new(move || {
                    serve_requests(c, rx, stop, 200 + i, |rng, op| {
                        let t = transaction!("Service", op);
                        event!("Service.app", "gateway"); // the caller, as RPC plugins log it
                        cache(rng, "order", 5000);
                        if op == "OrderService.create" {
                            sql(
                                rng,
                                "OrderDao.insert",
                                "INSERT INTO orders(id, uid, amount) VALUES(?, ?, ?)",
                                3.0,
                            );
                            let paid = call(
                                rng,
                                "payment-service",
                                "10.0.3.1",
                                "PaymentService.pay",
                                &payment_tx,
                            );
                            if let Err(e) = paid {
                                t.set_status("PaymentFailed");
                                return Err(e);
                            }
                            metric_count!("order.created");
                        } else {
                            sql(
                                rng,
                                "OrderDao.findById",
                                "SELECT * FROM orders WHERE id = ?",
                                1.5,
                            );
                        }
                        Ok(())
                    });
                }),
            ));
        }
        for i in 0..2 {
            let (c, rx, stop) = (users.clone(), user_rx.clone(), stop.clone());
            threads.push(spawn(
                "user",
                Box::new(move || {
                    serve_requests(c, rx, stop, 300 + i, |rng, op| {
                        let _t = transaction!("Service", op);
                        event!("Service.app", "gateway"); // the caller, as RPC plugins log it
                        cache(rng, "user", 1000);
                        sql(
                            rng,
                            "UserDao.findByName",
                            "SELECT * FROM users WHERE name = ?",
                            2.0,
                        );
                        metric_count!("user.login");
                        Ok(())
                    });
                }),
            ));
        }

        // The gateway: a few request threads per machine, paced to the configured rate.
        let per_thread =
            Duration::from_secs_f64(4.0 / f64::from(config.requests_per_second.max(1)));
        for (m, gateway) in [gateway_a.clone(), gateway_b.clone()]
            .into_iter()
            .enumerate()
        {
            for i in 0..2u64 {
                let (stop, order_tx, user_tx) = (stop.clone(), order_tx.clone(), user_tx.clone());
                let gateway = gateway.clone();
                threads.push(spawn(
                    "gateway",
                    Box::new(move || {
                        gateway.bind_to_current_thread();
                        let mut rng = SmallRng::seed_from_u64(400 + m as u64 * 10 + i);
                        while !stop.load(Ordering::Relaxed) {
                            let started = Instant::now();
                            gateway_request(&mut rng, &order_tx, &user_tx);
                            let left = per_thread.saturating_sub(started.elapsed());
                            std::thread::sleep(left.min(Duration::from_secs(1)));
                        }
                    }),
                ));
            }
        }
        Ok(Demo {
            stop,
            threads,
            clients: vec![gateway_a, gateway_b, orders, payments, users],
        })
    }

    /// Stops the services and flushes what they logged (bounded).
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        for c in &self.clients {
            c.shutdown(Duration::from_secs(2));
        }
    }
}

fn gateway_request(rng: &mut SmallRng, orders: &Sender<Request>, users: &Sender<Request>) {
    let pick = rng.gen_range(0..100);
    let url = match pick {
        0..=29 => "/api/order/create",
        30..=59 => "/api/order/{id}",
        60..=79 => "/api/user/login",
        80..=94 => "/api/cart",
        _ => "/health",
    };
    let name = if url == "/api/order/{id}" {
        format!("/api/order/{}", rng.gen_range(1000..9999))
    } else {
        url.to_owned()
    };
    let t = transaction!("URL", name);
    event!("URL.Server", "10.0.1.10");
    event!(
        "URL.Method",
        if url == "/api/order/create" {
            "HTTP/POST"
        } else {
            "HTTP/GET"
        }
    );
    t.add_data("uid", rng.gen_range(1..100_000));
    let result = match url {
        "/api/order/create" => call(
            rng,
            "order-service",
            "10.0.2.1",
            "OrderService.create",
            orders,
        ),
        "/api/order/{id}" => call(rng, "order-service", "10.0.2.1", "OrderService.get", orders),
        "/api/user/login" => call(rng, "user-service", "10.0.4.1", "UserService.login", users),
        "/api/cart" => {
            cache(rng, "cart", 1000);
            work(rng, 3.0);
            Ok(())
        }
        _ => {
            work(rng, 0.2);
            Ok(())
        }
    };
    if result.is_err() {
        t.set_status("500");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_alert_rules_parse_and_watch_what_the_demo_sends() {
        let rules = alert_rules();
        assert_eq!(rules.rules().len(), 4);
        let demo_domains = [
            "gateway",
            "order-service",
            "payment-service",
            "user-service",
        ];
        for domain in rules.domains() {
            assert!(demo_domains.contains(&domain.as_str()), "{domain}");
        }
        assert!(rules.webhooks().is_empty() && rules.emails().is_empty());
        assert_eq!(
            rules.history_days_needed(),
            0,
            "no baseline: the demo has no history"
        );
    }
}
