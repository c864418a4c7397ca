//! A minimal HTTP/1.0 GET for the CLI's own calls to a running server (loadgen, status):
//! plain std, a timeout, no dependency.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// GETs `path` from `base` (`[http://]host[:port][/prefix]`, a `?query` ignored) and
/// returns the body of a 200 answer, all within [`ANSWER_WITHIN`].
pub(crate) fn get(base: &str, path: &str) -> anyhow::Result<String> {
    get_with(base, path, system_resolve, STEP_WITHIN)
}

/// The URL [`get`] asks for `path` under `base`, for messages (`base` and `path` as given
/// when `base` is not a URL [`get`] takes).
pub(crate) fn url_of(base: &str, path: &str) -> String {
    match Base::parse(base) {
        Ok(Base { host, prefix, .. }) => format!("http://{host}{prefix}{path}"),
        Err(_) => format!("{}{path}", base.trim_end_matches('/')),
    }
}

/// The system's resolver: `/etc/hosts`, DNS, as `getaddrinfo` is set up.
fn system_resolve(addr: &str) -> std::io::Result<Vec<SocketAddr>> {
    addr.to_socket_addrs().map(Iterator::collect)
}

/// [`get`] with the resolver and the time for each step (resolving, connecting) given, so
/// tests resolve no name through DNS.
fn get_with(
    base: &str,
    path: &str,
    resolve: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
    step: Duration,
) -> anyhow::Result<String> {
    let deadline = Instant::now() + ANSWER_WITHIN;
    let Base { addr, host, prefix } = Base::parse(base)?;
    let path = format!("{prefix}{path}");
    let within = |step: Duration| step.min(deadline.saturating_duration_since(Instant::now()));
    let addr = resolve_within(&addr, within(step), resolve)?;
    let mut stream = TcpStream::connect_timeout(&addr, within(step))
        .with_context(|| format!("connecting to {base}"))?;
    stream.set_write_timeout(Some(step))?;
    stream.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let response = read_answer(&mut stream, deadline, ANSWER_BYTES_MAX)
        .with_context(|| format!("reading the answer of http://{host}{path}"))?;
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text
        .split_once("\r\n\r\n")
        .filter(|(head, _)| head.starts_with("HTTP/"))
    else {
        return Err(NotHttp {
            bytes: response.len(),
        }
        .into());
    };
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("http://{host}{path} answered {status}");
    }
    Ok(body.to_owned())
}

/// An answer that is not HTTP (no status line and headers), or none at all: the port is
/// some other server's, e.g. the collector's, which reads and never answers.
#[derive(Debug)]
pub(crate) struct NotHttp {
    /// Bytes the server sent before it closed.
    pub(crate) bytes: usize,
}

impl std::fmt::Display for NotHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.bytes {
            0 => f.write_str("the server closed the connection without an answer"),
            n => write!(f, "the answer is not HTTP ({n} bytes)"),
        }
    }
}

impl std::error::Error for NotHttp {}

/// The whole call (resolving the host, connecting, the answer) finishes within this long,
/// or fails: a per-read timeout alone let a server that sends a byte every few seconds hold
/// the caller for good.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// Resolving the host and connecting each take at most this long.
const STEP_WITHIN: Duration = Duration::from_secs(5);

/// Larger answers fail the call instead of filling memory (what the CLI reads, `/metrics`
/// and the JSON API's summaries, is kilobytes to a few megabytes).
const ANSWER_BYTES_MAX: usize = 64 << 20;

/// The first address of `addr` (`host:port`), looked up on a thread of its own and waited
/// for at most `within`: the system's resolver takes no timeout, and a DNS server that does
/// not answer held `ocelot status` for as long as the resolver's retries add up to. A lookup
/// given up on ends on its thread by itself; the command does not wait for it.
fn resolve_within(
    addr: &str,
    within: Duration,
    resolve: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    // An address given as IP and port needs no lookup, and no thread.
    if let Ok(addr) = addr.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let owned = addr.to_owned();
    std::thread::Builder::new()
        .name("resolve".to_owned())
        .spawn(move || {
            let _ = tx.send(resolve(&owned));
        })
        .context("starting a thread to resolve the host")?;
    match rx.recv_timeout(within) {
        Ok(resolved) => resolved
            .with_context(|| format!("resolving {addr}"))?
            .into_iter()
            .next()
            .with_context(|| format!("no address for {addr}")),
        Err(RecvTimeoutError::Timeout) => bail!("resolving {addr}: no answer within {within:?}"),
        Err(RecvTimeoutError::Disconnected) => bail!("resolving {addr}: the lookup failed"),
    }
}

/// Reads `stream` to its end, failing past `deadline` or `max` bytes.
fn read_answer(stream: &mut TcpStream, deadline: Instant, max: usize) -> anyhow::Result<Vec<u8>> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no whole answer within {ANSWER_WITHIN:?}");
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(answer);
        }
        if answer.len() + n > max {
            bail!("the answer is over {max} bytes");
        }
        answer.extend_from_slice(&chunk[..n]);
    }
}

/// The parts of a base URL.
#[derive(Debug, PartialEq)]
struct Base<'a> {
    /// `host:port` to connect to: port 80 when the URL gives none, as browsers do.
    addr: String,
    /// `host[:port]` as given, for the `Host` header.
    host: &'a str,
    /// The path the server is mounted under (behind a reverse proxy), without a trailing
    /// `/`; empty for none.
    prefix: &'a str,
}

impl<'a> Base<'a> {
    /// Parses `[http://]host[:port][/prefix]`: no scheme means `http://` (`--url
    /// 127.0.0.1:8080` was refused, and `ocelot status` then said the server was
    /// unreachable), and a `?query` or `#fragment` is dropped (it was sent as part of the
    /// prefix: `/t?x=1/metrics`).
    fn parse(base: &'a str) -> anyhow::Result<Base<'a>> {
        let rest = match base.split_once("://") {
            None => base,
            Some(("http", rest)) => rest,
            Some(_) => bail!("{base}: only http:// URLs are supported, e.g. http://127.0.0.1:8080"),
        };
        let rest = rest.find(['?', '#']).map_or(rest, |end| &rest[..end]);
        let (host, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            bail!("{base}: no host, e.g. http://127.0.0.1:8080");
        }
        // `user:password@host` was taken for a host name, and the error quoted the password.
        if let Some((_, after)) = host.rsplit_once('@') {
            bail!(
                "http://...@{after}: credentials in the URL are not supported (and not needed: \
                 /metrics, which it reads, needs no login); give http://{after}"
            );
        }
        // `[::1]` has colons but no port; `[::1]:8080` and `host:8080` have one.
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.contains(']'));
        let addr = if has_port {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        Ok(Base { addr, host, prefix })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn credentials_in_a_url_are_refused_without_repeating_them() {
        let err = Base::parse("http://admin:s3cret@127.0.0.1:8080/").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            !text.contains("s3cret") && !text.contains("admin"),
            "{text}"
        );
        assert!(text.contains("give http://127.0.0.1:8080"), "{text}");
    }

    #[test]
    fn a_url_without_a_port_means_port_80_and_a_path_is_the_prefix_of_every_request() {
        let parse = |base| {
            let b = Base::parse(base).unwrap();
            (b.addr, b.host, b.prefix)
        };
        assert_eq!(
            parse("http://localhost"),
            ("localhost:80".into(), "localhost", "")
        );
        assert_eq!(
            parse("http://10.0.0.5:8080/"),
            ("10.0.0.5:8080".into(), "10.0.0.5:8080", "")
        );
        assert_eq!(
            parse("http://mon.example/ocelot/"),
            ("mon.example:80".into(), "mon.example", "/ocelot")
        );
        assert_eq!(parse("http://[::1]"), ("[::1]:80".into(), "[::1]", ""));
        assert_eq!(
            parse("http://[::1]:8080/x"),
            ("[::1]:8080".into(), "[::1]:8080", "/x")
        );
        for bad in [
            "https://example.com",
            "ftp://127.0.0.1:8080",
            "http://",
            "http:///metrics",
            "http://?x=1",
        ] {
            let err = Base::parse(bad).unwrap_err().to_string();
            assert!(err.contains("e.g. http://127.0.0.1:8080"), "{bad}: {err}");
        }
    }

    /// `--url 127.0.0.1:8080` was refused (and `ocelot status` said the server was
    /// unreachable), and a query was sent as part of the path: `/t?x=1/metrics`.
    #[test]
    fn a_url_without_a_scheme_is_http_and_its_query_is_not_part_of_the_prefix() {
        let parse = |base| {
            let b = Base::parse(base).unwrap();
            (b.addr, b.host, b.prefix)
        };
        assert_eq!(
            parse("127.0.0.1:8080"),
            ("127.0.0.1:8080".into(), "127.0.0.1:8080", "")
        );
        assert_eq!(
            parse("mon.example/ocelot"),
            ("mon.example:80".into(), "mon.example", "/ocelot")
        );
        assert_eq!(
            parse("http://localhost:29991/t?x=1"),
            ("localhost:29991".into(), "localhost:29991", "/t")
        );
        assert_eq!(
            parse("http://localhost:29991?x=1#top"),
            ("localhost:29991".into(), "localhost:29991", "")
        );
        assert_eq!(
            parse("localhost:29991/t/#top"),
            ("localhost:29991".into(), "localhost:29991", "/t")
        );
    }

    /// The system's resolver takes no timeout: a DNS server that did not answer held
    /// `ocelot status` (and every CLI call) well past its timeout.
    #[test]
    fn a_lookup_that_does_not_answer_fails_the_call_at_its_timeout() {
        let (answer, never) = std::sync::mpsc::channel::<()>();
        // Answers only once the test lets go, well after the call gave up on it.
        let hanging = move |_: &str| {
            let _ = never.recv_timeout(Duration::from_secs(10));
            Err(std::io::Error::other("the lookup was waited for"))
        };
        let err = get_with(
            "http://ocelot.test:8080",
            "/metrics",
            hanging,
            Duration::from_millis(100),
        )
        .unwrap_err();
        drop(answer);
        let err = format!("{err:#}");
        assert!(
            err.contains("resolving ocelot.test:8080: no answer within 100ms"),
            "{err}"
        );
    }

    #[test]
    fn a_host_name_is_looked_up_and_sent_as_the_host() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                head.push(std::mem::take(&mut line));
            }
            stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            head
        });
        let resolve = move |addr: &str| {
            assert_eq!(addr, "ocelot.test:80");
            Ok(vec![local])
        };
        let body = get_with("http://ocelot.test", "/metrics", resolve, STEP_WITHIN).unwrap();
        assert_eq!(body, "ok");
        let head = server.join().unwrap();
        assert!(
            head.contains(&"Host: ocelot.test\r\n".to_owned()),
            "{head:?}"
        );
    }

    #[test]
    fn a_server_under_a_path_prefix_is_asked_there() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/ocelot/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request_line = String::new();
            BufReader::new(&stream)
                .read_line(&mut request_line)
                .unwrap();
            stream
                .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            request_line
        });
        assert_eq!(get(&base, "/metrics").unwrap(), "ok");
        assert_eq!(server.join().unwrap(), "GET /ocelot/metrics HTTP/1.0\r\n");
    }

    /// A server that trickles its answer, or sends without end, fails the call at the
    /// deadline or the size cap instead of holding the caller (each read was only timed
    /// alone).
    #[test]
    fn an_answer_that_trickles_or_never_ends_fails_at_its_deadline_or_size() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut stream, _) = listener.accept().unwrap();
                std::thread::spawn(move || {
                    for _ in 0..40 {
                        if stream.write_all(&[b'x'; 1000]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                });
            }
        });
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = read_answer(&mut stream, deadline, 1 << 20).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{err}");
        let mut stream = TcpStream::connect(addr).unwrap();
        let far = Instant::now() + Duration::from_secs(10);
        let err = read_answer(&mut stream, far, 5_000).unwrap_err();
        assert!(err.to_string().contains("over 5000 bytes"), "{err}");
        server.join().unwrap();
    }
}
