//! Sends realistic traffic to a collector: an `order-service` whose requests call a
//! `payment-service`, both in this process, each on its own threads with its own client.
//!
//! ```text
//! cargo run -p ocelot-client --example demo_app -- [collector host:port] [seconds] [requests/s]
//! ```
//!
//! Defaults: `127.0.0.1:2280`, 30 s, 200 requests per second.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ocelot_client::{error, event, metric_count, metric_duration, transaction, Client, Context};

/// A tiny deterministic generator, so the demo needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug)]
struct CardDeclined;

impl std::fmt::Display for CardDeclined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined by issuer")
    }
}

impl std::error::Error for CardDeclined {}

/// A client for `domain`. `try_build`, not `build`: the collector address comes from the
/// command line, and a typo in it (a port past 65535, a URL) should stop the demo with a
/// clear message rather than leave it running with nowhere to send.
fn client(domain: &str, collector: &str, ip: Ipv4Addr) -> Client {
    let built = Client::builder()
        .domain(domain)
        .ip(ip)
        .collectors([collector.to_owned()])
        .heartbeat_interval(Some(Duration::from_secs(60)))
        .try_build();
    built.unwrap_or_else(|e| {
        eprintln!("demo_app: {e}");
        std::process::exit(2)
    })
}

fn busy(micros: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_micros(micros) {
        std::hint::spin_loop();
    }
}

fn payment_service(client: Client, calls: mpsc::Receiver<(Context, u64)>) {
    client.bind_to_current_thread();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for (ctx, amount) in calls {
        let t = transaction!("Service", "PaymentService.pay");
        let _adopted = ctx.adopt();
        t.add_data("amount", amount);
        {
            let _sql = transaction!("SQL", "PaymentDao.insert");
            event!("SQL.Database", "jdbc:mysql://db2:3306/payments");
            busy(200 + rng.below(800));
        }
        if rng.below(50) == 0 {
            error!(&CardDeclined);
            metric_count!("payment.declined");
        } else {
            metric_count!("payment.ok");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let collector = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:2280".to_owned());
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let rate: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .max(1);

    let order = client("order-service", &collector, Ipv4Addr::new(10, 0, 0, 1));
    let payment = client("payment-service", &collector, Ipv4Addr::new(10, 0, 0, 2));
    let (calls_tx, calls_rx) = mpsc::channel();
    let payment_thread = {
        let payment = payment.clone();
        std::thread::spawn(move || payment_service(payment, calls_rx))
    };

    order.bind_to_current_thread();
    let mut rng = XorShift(42);
    let interval = Duration::from_micros(1_000_000 / rate);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut next = Instant::now();
    let mut requests = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        let order_id = rng.below(100_000);
        let path =
            ["/api/order/create", "/api/order/query", "/api/order/cancel"][rng.below(3) as usize];
        let url = transaction!("URL", path);
        url.add_data("orderId", order_id);
        event!("URL.Server", "10.0.0.1", "0", "method=POST");
        {
            let cache = transaction!("Cache.redis", "order:get");
            if rng.below(20) == 0 {
                cache.set_status("TIMEOUT");
            }
            busy(50 + rng.below(200));
        }
        {
            let _sql = transaction!("SQL", "OrderDao.insert");
            event!("SQL.Method", "INSERT");
            busy(300 + rng.below(2_000));
        }
        if path == "/api/order/create" {
            let _call = transaction!("Call", "PaymentService.pay");
            if let Some(ctx) = Context::for_remote_call("payment-service", "PaymentService.pay") {
                let _ = calls_tx.send((ctx, 100 + rng.below(10_000)));
            }
        }
        metric_duration!("order.latency", started.elapsed().as_millis());
        metric_count!("order.count");
        drop(url);
        requests += 1;
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    drop(calls_tx);
    let _ = payment_thread.join();
    let sent_order = order.shutdown(Duration::from_secs(5));
    let sent_payment = payment.shutdown(Duration::from_secs(5));
    println!("{requests} requests; everything sent: order {sent_order}, payment {sent_payment}");
    println!("order-service:   {:?}", order.stats());
    println!("payment-service: {:?}", payment.stats());
}
