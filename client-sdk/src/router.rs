//! Asking a CAT router which collectors to use (reference section 4).
//!
//! `GET /cat/s/router?op=json&domain=..&ip=..` answers
//! `{"kvs":{"routers":"a:2280;b:2280;","block":"false","sample":"1.0",...}}` with every value a
//! JSON string. The SDK reads `routers` (the collector list), `block` and `sample` (see
//! `sampling.rs`). A plain HTTP/1.0 request over a std `TcpStream` is enough:
//! the answer is small and the connection closes after it, which is also what CAT's C
//! client expects.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Router answers are a few hundred bytes; anything past this is not a router.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Bound on the connect, and separately on the whole exchange after it. CAT's own clients
/// allow the router 200 ms (C) to 1 s (Java `clientConnectTimeout`); a router that accepts
/// but never answers, or trickles bytes, is given up on after this.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// What a router answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RouterAnswer {
    /// The collectors, in the router's order.
    pub(crate) routers: Vec<String>,
    /// `block`: `true`/`yes` (any case) as CAT's C client reads it; `None` if absent.
    pub(crate) block: Option<bool>,
    /// `sample`, if present and a number (range checked by the caller).
    pub(crate) sample: Option<f64>,
}

/// The router at `address` (`host:port`)'s answer, or `None` if it could not be asked or
/// answered nonsense. Blocks for at most about twice [`QUERY_TIMEOUT`] after name
/// resolution (more for a name whose first addresses do not answer: each is given the connect
/// timeout), so it runs on a helper thread, never on the sender thread.
pub(crate) fn query(address: &str, domain: &str, ip: Ipv4Addr) -> Option<RouterAnswer> {
    // Every address of the name, as for collectors (`localhost` is `::1` first on most hosts).
    let addrs = address.to_socket_addrs().ok()?;
    let mut stream = crate::transport::connect_first(addrs, QUERY_TIMEOUT).ok()?;
    let deadline = Instant::now() + QUERY_TIMEOUT;
    stream.set_write_timeout(Some(QUERY_TIMEOUT)).ok()?;
    let request = format!(
        "GET /cat/s/router?op=json&domain={}&ip={ip} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n",
        percent_encode(domain)
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // A read timeout bounds each read, not the exchange: re-arm it with what is left.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                if response.len() > MAX_RESPONSE_BYTES {
                    return None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1) != Some("200") {
        return None;
    }
    parse_answer(body)
}

/// The `routers`, `block` and `sample` of a router JSON body; `None` without `routers`.
pub(crate) fn parse_answer(body: &str) -> Option<RouterAnswer> {
    let routers = string_value(body, "routers")?
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let block = string_value(body, "block").map(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
    });
    let sample = string_value(body, "sample").and_then(|v| v.trim().parse().ok());
    Some(RouterAnswer {
        routers,
        block,
        sample,
    })
}

/// The string value of `"key"` in a flat JSON object. Router values are short strings
/// without escapes (a server list, `true`, `0.5`), so a full JSON parser is not needed; a
/// value that is not a string (which CAT's C client ignores too) reads as absent.
fn string_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = body.find(&quoted)?;
    let rest = body[at + quoted.len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn router_json_gives_the_collector_list_block_and_sample() {
        let body =
            r#"{"kvs":{"routers":"10.0.0.1:2280;10.0.0.2:2280;","block":"false","sample":"1.0"}}"#;
        assert_eq!(
            parse_answer(body).unwrap(),
            RouterAnswer {
                routers: vec!["10.0.0.1:2280".to_owned(), "10.0.0.2:2280".to_owned()],
                block: Some(false),
                sample: Some(1.0),
            }
        );
        let blocked = r#"{"kvs":{"block":"TRUE","sample":"0.25","routers":"a:1;"}}"#;
        let answer = parse_answer(blocked).unwrap();
        assert_eq!((answer.block, answer.sample), (Some(true), Some(0.25)));
        assert_eq!(
            parse_answer(r#"{"kvs":{"routers":"a:1","block":"Yes"}}"#)
                .unwrap()
                .block,
            Some(true)
        );
        // Absent, or not a string as CAT sends them: not given.
        let bare = parse_answer(r#"{"kvs":{"routers":"a:1","sample":0.5}}"#).unwrap();
        assert_eq!((bare.block, bare.sample), (None, None));
        assert_eq!(
            parse_answer(r#"{"kvs":{"routers":"a:1","sample":"x"}}"#)
                .unwrap()
                .sample,
            None
        );
        assert_eq!(parse_answer("{}"), None);
    }

    #[test]
    fn router_is_asked_over_http_with_domain_and_ip() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"kvs\":{\"routers\":\"127.0.0.1:1234;\"}}").unwrap();
            request
        });
        let answer = query(&address, "order service", Ipv4Addr::new(10, 1, 2, 3)).unwrap();
        assert_eq!(answer.routers, vec!["127.0.0.1:1234".to_owned()]);
        let request = server.join().unwrap();
        assert!(
            request.starts_with(
                "GET /cat/s/router?op=json&domain=order%20service&ip=10.1.2.3 HTTP/1.0"
            ),
            "{request}"
        );
    }

    #[test]
    fn a_router_that_accepts_but_never_answers_is_given_up_on_after_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Trickle bytes so that no single read times out, then hang until told to stop.
            for _ in 0..30 {
                if conn.write_all(b"H").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = hold_rx.recv();
        });
        let start = Instant::now();
        assert_eq!(query(&address, "d", Ipv4Addr::LOCALHOST), None);
        let took = start.elapsed();
        assert!(took < QUERY_TIMEOUT * 2, "query took {took:?}");
        drop(hold_tx);
        server.join().unwrap();
    }
}
