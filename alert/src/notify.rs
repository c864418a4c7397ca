//! [`Notifier`]: sends alert events to webhooks as a JSON POST (and by email with the `smtp`
//! feature, see `email.rs`), with a timeout per attempt and retries, and records every
//! attempt in the [`AlertLog`].
//!
//! The HTTP client is a few lines over `std::net::TcpStream` (HTTP/1.1, `Connection:
//! close`, only the status line is read), so the whole attempt, name lookup, connect and
//! TLS handshake included, is bounded by one deadline: every read and write on the socket
//! waits at most for what is left of it (`DeadlineStream`). The system resolver has no
//! timeout of its own, so a host name is looked up on a thread of its own that the attempt
//! stops waiting for at the deadline. `https://` URLs go through rustls over the same
//! socket (`tls.rs`: trusted roots, handshake errors). Non-goals: redirects, proxies,
//! reading the answer's body.
//!
//! Sending blocks for up to `(retries + 1) * timeout_ms` plus back-offs per target: call
//! [`Notifier::notify`] from a thread that may block, never from an async task directly.
//! [`crate::Alerting`] gives each target a thread of its own, so evaluation never waits
//! for a target, nor does one target for another.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde::{Deserialize, Serialize};

use crate::alert_log::{AlertLog, NotificationAttempt};
use crate::email::EmailConfig;
use crate::error::AlertError;
use crate::evaluator::AlertEvent;
use crate::rules::RuleSet;

/// Default time allowed for one attempt, name lookup to status line.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Default retries after a failed attempt (3 attempts in all).
pub const DEFAULT_RETRIES: u32 = 2;
/// Default wait before the first retry; doubled before each further one.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 1_000;
/// Most retries a target may ask for: with the longest timeout and back-off, one event
/// then holds its target's notification thread for about 20 minutes, not for days.
pub const MAX_RETRIES: u32 = 10;
/// Longest time allowed for one attempt.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Longest wait before a retry; the doubled back-off stops growing here.
pub const MAX_RETRY_BACKOFF_MS: u64 = 60_000;
/// The status line must arrive within this many bytes; anything longer is not HTTP.
const MAX_STATUS_LINE_BYTES: usize = 8 * 1024;
/// Name lookups still running, at most, before an attempt fails without starting one. A
/// lookup cannot be cancelled: one the attempt stopped waiting for keeps its thread until
/// the resolver answers. Sends to a target are one at a time, so a few are already a
/// resolver that hangs; without a cap each attempt would leave one more thread behind.
/// Counted per target's thread ([`Notifier::with_own_lookups`]), so targets that look up
/// at the same moment do not fail each other.
pub(crate) const MAX_RUNNING_LOOKUPS: usize = 4;

/// A `[[webhook]]` table: a named notification target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// What rules write in `notify`.
    pub name: String,
    /// `http://host[:port]/path` or `https://host[:port]/path`.
    pub url: String,
    /// `https://` only: a PEM file of CA certificates trusted for this webhook besides
    /// Mozilla's roots (a company's own CA). Read at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// One attempt's time limit (default [`DEFAULT_TIMEOUT_MS`]).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after a failure: a connection error, a timeout or a status other than 2xx
    /// (default [`DEFAULT_RETRIES`]).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubled each time (default
    /// [`DEFAULT_RETRY_BACKOFF_MS`]).
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

fn default_retry_backoff_ms() -> u64 {
    DEFAULT_RETRY_BACKOFF_MS
}

impl WebhookConfig {
    /// A webhook with the default timeout and retries.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        WebhookConfig {
            name: name.into(),
            url: url.into(),
            ca_file: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retries: DEFAULT_RETRIES,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), AlertError> {
        let section = format!("webhook \"{}\"", self.name);
        if self.name.is_empty() {
            return Err(AlertError::config("webhook", "missing `name`"));
        }
        let url =
            HttpUrl::parse(&self.url).map_err(|message| AlertError::config(&section, message))?;
        if let Some(path) = &self.ca_file {
            if url.server_name.is_none() {
                return Err(AlertError::config(
                    &section,
                    "`ca_file` is for https:// URLs only",
                ));
            }
            crate::tls::read_ca_file(path)
                .map_err(|message| AlertError::config(&section, message))?;
        }
        validate_delivery(
            &section,
            self.timeout_ms,
            self.retries,
            self.retry_backoff_ms,
        )
    }
}

/// Checks a target's `timeout_ms`, `retries` and `retry_backoff_ms` (webhooks and email).
pub(crate) fn validate_delivery(
    section: &str,
    timeout_ms: u64,
    retries: u32,
    retry_backoff_ms: u64,
) -> Result<(), AlertError> {
    let fail = |message: String| Err(AlertError::config(section, message));
    if timeout_ms == 0 {
        return fail("`timeout_ms` must be above 0".to_owned());
    }
    if timeout_ms > MAX_TIMEOUT_MS {
        return fail(format!("`timeout_ms` is at most {MAX_TIMEOUT_MS}"));
    }
    if retries > MAX_RETRIES {
        return fail(format!("`retries` is at most {MAX_RETRIES}"));
    }
    if retry_backoff_ms > MAX_RETRY_BACKOFF_MS {
        return fail(format!(
            "`retry_backoff_ms` is at most {MAX_RETRY_BACKOFF_MS}"
        ));
    }
    Ok(())
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HttpUrl {
    /// `host:port`, for connecting.
    address: String,
    /// The host as written (an IPv6 address in brackets), for errors.
    host: String,
    /// `https://`: the name (or IP address) the server's certificate must be valid for,
    /// also sent as SNI. `None` for `http://`.
    server_name: Option<ServerName<'static>>,
    /// The `Host` header.
    host_header: String,
    /// Path and query, at least `/`, percent-encoded as a request line needs them.
    path: String,
}

impl HttpUrl {
    fn parse(url: &str) -> Result<HttpUrl, String> {
        // The scheme is case-insensitive (`HTTPS://` is https).
        let scheme = |prefix: &str| {
            url.get(..prefix.len())
                .filter(|s| s.eq_ignore_ascii_case(prefix))
                .map(|_| &url[prefix.len()..])
        };
        let (rest, tls) = if let Some(rest) = scheme("https://") {
            (rest, true)
        } else if let Some(rest) = scheme("http://") {
            (rest, false)
        } else {
            return Err(format!("{url}: not an http:// or https:// URL"));
        };
        // A fragment is the client's own; it is never sent.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], encode_path(&rest[i..])),
            Some(i) => (&rest[..i], format!("/{}", encode_path(&rest[i..]))),
            None => (rest, "/".to_owned()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("{url}: no host (or credentials in the URL)"));
        }
        // `[::1]:8080`, `host:8080` or `host`.
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let host = if has_port {
            let colon = authority.rfind(':').expect("has a colon");
            let port = &authority[colon + 1..];
            // Port 0 parses but no server listens on it: every attempt would fail.
            port.parse::<u16>()
                .ok()
                .filter(|&port| port != 0)
                .ok_or_else(|| format!("{url}: bad port {port:?}"))?;
            &authority[..colon]
        } else {
            authority
        };
        check_host(host).map_err(|why| format!("{url}: {why}"))?;
        let server_name = if tls {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare).map_err(|e| {
                format!("{url}: host {host:?} cannot be checked against a certificate: {e}")
            })?;
            Some(name.to_owned())
        } else {
            None
        };
        let address = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if tls { 443 } else { 80 })
        };
        Ok(HttpUrl {
            address,
            host: host.to_owned(),
            server_name,
            host_header: authority.to_owned(),
            path,
        })
    }
}

/// A host is an IPv6 address in brackets, or a name or IPv4 address of ASCII letters,
/// digits, `-`, `.` and `_`: anything else (a space, a non-ASCII letter) would be sent raw
/// in the `Host` header and looked up as is, and no server would answer it.
fn check_host(host: &str) -> Result<(), String> {
    if let Some(inside) = host.strip_prefix('[') {
        return match inside.strip_suffix(']') {
            Some(ip) if ip.parse::<std::net::Ipv6Addr>().is_ok() => Ok(()),
            _ => Err(format!("bad IPv6 host {host:?}")),
        };
    }
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        None => Ok(()),
        Some(c) if !c.is_ascii() => Err(format!(
            "host {host:?} is not ASCII: write an international name in its xn-- (punycode) form"
        )),
        Some(c) => Err(format!(
            "host {host:?} holds {c:?}, which a host name cannot"
        )),
    }
}

/// `path` (and query) with every byte a request line cannot carry percent-encoded: spaces,
/// control characters, non-ASCII (as UTF-8 bytes) and the few ASCII characters RFC 3986
/// leaves out (`"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`, `[`, `]`). A `%` that
/// starts an escape is kept, so a URL already encoded is sent as written; a lone one is
/// encoded.
fn encode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    for (i, &b) in bytes.iter().enumerate() {
        let kept = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?".contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if kept {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A blocking name lookup of `host:port`: the system resolver, or a stand-in in tests.
type LookupFn = dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// Name lookups that give up at a deadline (webhooks, and the relays of `[[email]]`
/// targets).
#[derive(Clone)]
pub(crate) struct Resolver {
    lookup: Arc<LookupFn>,
    /// Lookups whose thread has not ended, shared by the clones.
    running: Arc<AtomicUsize>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

/// Counts a lookup thread as running until dropped (when the thread ends, or when it
/// could not be started).
struct RunningLookup(Arc<AtomicUsize>);

impl Drop for RunningLookup {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Resolver {
    fn system() -> Self {
        Resolver::new(Arc::new(|address: &str| {
            address.to_socket_addrs().map(Iterator::collect)
        }))
    }

    fn new(lookup: Arc<LookupFn>) -> Self {
        Resolver {
            lookup,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The addresses of `address` (`host:port`), or why there are none: the lookup
    /// failed, or had not answered within `wait` (what is left of the attempt's
    /// `timeout`, named in the error).
    pub(crate) fn resolve(
        &self,
        address: &str,
        wait: Duration,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, String> {
        // An IP address needs no lookup.
        if let Ok(addr) = address.parse::<SocketAddr>() {
            return Ok(vec![addr]);
        }
        let before = self.running.fetch_add(1, Ordering::Relaxed);
        let running = RunningLookup(self.running.clone());
        if before >= MAX_RUNNING_LOOKUPS {
            return Err(format!(
                "resolving {address}: {MAX_RUNNING_LOOKUPS} earlier lookups are still running"
            ));
        }
        let (tx, rx) = mpsc::channel();
        let lookup = self.lookup.clone();
        let owned = address.to_owned();
        std::thread::Builder::new()
            .name("ocelot-alert-resolve".to_owned())
            .spawn(move || {
                let _running = running;
                // The attempt may have stopped waiting: then nobody reads the answer.
                let _ = tx.send(lookup(&owned));
            })
            .map_err(|e| format!("resolving {address}: cannot start a thread: {e}"))?;
        match rx.recv_timeout(wait) {
            Ok(Ok(addrs)) => Ok(addrs),
            Ok(Err(e)) => Err(format!("resolving {address}: {e}")),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "resolving {address}: timed out after {} ms",
                timeout.as_millis()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(format!("resolving {address}: the lookup failed"))
            }
        }
    }
}

/// A socket whose every read and write waits at most until `deadline`, so that a run of
/// them (a TLS handshake's round trips, a server sending a byte at a time) cannot add up
/// past it; past it they fail with [`io::ErrorKind::TimedOut`].
struct DeadlineStream {
    socket: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn remaining(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::ErrorKind::TimedOut.into())
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.set_read_timeout(Some(self.remaining()?))?;
        self.socket.read(buf)
    }
}

impl Write for DeadlineStream {
    // A wrapper's `write` passes a short write on to its caller, whose `write_all` (ours,
    // or rustls's loop over its records) writes the rest.
    #[allow(clippy::disallowed_methods)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.set_write_timeout(Some(self.remaining()?))?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// POSTs `body` as JSON; `Ok(status)` for any HTTP answer, `Err` if none came in time.
/// `tls` is set for an `https://` URL: the client settings, or why they could not be made.
fn post_json(
    url: &HttpUrl,
    tls: Option<&Result<Arc<ClientConfig>, String>>,
    body: &[u8],
    timeout: Duration,
    resolver: &Resolver,
) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let timed_out = || format!("timed out after {} ms", timeout.as_millis());
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)
    };
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        // rustls's own words for this carry a link to its docs.
        io::ErrorKind::UnexpectedEof => "connection closed before a status line".to_owned(),
        _ => e.to_string(),
    };
    let tls = match (tls, &url.server_name) {
        (Some(config), Some(name)) => Some((config.clone()?, name.clone())),
        (None, None) => None,
        _ => return Err("TLS settings do not match the URL's scheme".to_owned()),
    };
    let addrs = resolver.resolve(&url.address, remaining()?, timeout)?;
    let mut socket = None;
    let mut last_error = format!("{}: no address", url.address);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining()?) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) => last_error = format!("connecting to {addr}: {e}"),
        }
    }
    let stream = DeadlineStream {
        socket: socket.ok_or(last_error)?,
        deadline,
    };
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ocelot-alert\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let Some((config, server_name)) = tls else {
        return exchange(stream, &request).map_err(io_error);
    };
    let connection = ClientConnection::new(config, server_name)
        .map_err(|e| format!("TLS handshake with {}: {e}", url.host))?;
    let mut stream = StreamOwned::new(connection, stream);
    // The handshake first, on its own, so that its errors name what went wrong with the
    // certificate; a timeout reads as any other.
    while stream.conn.is_handshaking() {
        // Each read and write is bounded already; this bounds a round that did neither.
        remaining()?;
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
                _ => crate::tls::handshake_error(&e, &url.host),
            })?;
    }
    exchange(stream, &request).map_err(io_error)
}

/// Writes `request` and reads the answer's status line.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> io::Result<u16> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    stream.write_all(request)?;
    // TLS sends what `write_all` left in its buffer only here.
    stream.flush()?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(invalid("connection closed before a status line".to_owned()));
        }
        response.extend_from_slice(&buf[..n]);
        if let Some(end) = response.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&response[..end]).into_owned();
            return parse_status(&line)
                .ok_or_else(|| invalid(format!("not an HTTP status line: {line:?}")));
        }
        if response.len() > MAX_STATUS_LINE_BYTES {
            return Err(invalid("no status line in the first 8 KiB".to_owned()));
        }
    }
}

/// `HTTP/1.1 204 No Content` -> 204.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sends alert events to the webhooks (and, with the `smtp` feature, the email targets)
/// their rules name.
#[derive(Debug, Clone)]
pub struct Notifier {
    webhooks: HashMap<String, Webhook>,
    emails: HashMap<String, EmailConfig>,
    log: AlertLog,
    resolver: Resolver,
}

/// A webhook ready to send to.
#[derive(Debug, Clone)]
struct Webhook {
    config: WebhookConfig,
    url: HttpUrl,
    /// `https://` only: the client settings, or why they could not be made (a `ca_file`
    /// gone since the rules were loaded), which each attempt then fails with.
    tls: Option<Result<Arc<ClientConfig>, String>>,
}

impl Notifier {
    /// A notifier for `webhooks` (validated: they come from a [`crate::RuleSet`]),
    /// recording into `log`. Reads the `ca_file` of each webhook that has one.
    pub fn new(webhooks: &[WebhookConfig], log: AlertLog) -> Self {
        // Webhooks without a `ca_file` share one set of settings (Mozilla's roots).
        let mut mozilla_roots = None;
        let webhooks = webhooks
            .iter()
            .filter_map(|w| {
                let url = HttpUrl::parse(&w.url).ok()?;
                let tls = url.server_name.is_some().then(|| match &w.ca_file {
                    Some(path) => crate::tls::client_config(Some(path)),
                    None => mozilla_roots
                        .get_or_insert_with(|| crate::tls::client_config(None))
                        .clone(),
                });
                let webhook = Webhook {
                    config: w.clone(),
                    url,
                    tls,
                };
                Some((w.name.clone(), webhook))
            })
            .collect();
        Notifier {
            webhooks,
            emails: HashMap::new(),
            log,
            resolver: Resolver::system(),
        }
    }

    /// Looks host names up with `lookup` instead of the system resolver.
    #[cfg(test)]
    pub(crate) fn with_lookup(
        mut self,
        lookup: impl Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = Resolver::new(Arc::new(lookup));
        self
    }

    /// Adds email targets (sent only with the `smtp` feature; without it a
    /// [`crate::RuleSet`] rejects them at load).
    pub fn with_emails(mut self, emails: &[EmailConfig]) -> Self {
        self.emails
            .extend(emails.iter().map(|e| (e.name.clone(), e.clone())));
        self
    }

    /// A notifier for every target of `rules`.
    pub fn for_rules(rules: &RuleSet, log: AlertLog) -> Self {
        Notifier::new(rules.webhooks(), log).with_emails(rules.emails())
    }

    /// Sends `event` to each of its targets in turn, retrying as configured, and records
    /// each attempt. Suppressed events are not sent. Returns how many targets accepted it.
    pub fn notify(&self, event: &AlertEvent) -> usize {
        if event.suppressed {
            return 0;
        }
        event
            .notify
            .iter()
            .filter(|target| self.notify_target(event, target))
            .count()
    }

    /// Sends `event` to `target` alone, retrying as configured, and records each attempt;
    /// whether the target accepted it (`false` for a name that is not a target).
    pub(crate) fn notify_target(&self, event: &AlertEvent, target: &str) -> bool {
        if let Some(Webhook { config, url, tls }) = self.webhooks.get(target) {
            let body = serde_json::to_vec(event).expect("alert events serialize to JSON");
            let timeout = Duration::from_millis(config.timeout_ms);
            self.deliver(
                event,
                target,
                "webhook",
                config.retries,
                config.retry_backoff_ms,
                || match post_json(url, tls.as_ref(), &body, timeout, &self.resolver) {
                    Ok(status) if (200..300).contains(&status) => (Some(status), Ok(())),
                    // The status is kept with the error: `/api/alerts` shows both.
                    Ok(status) => (Some(status), Err(format!("HTTP {status}"))),
                    Err(e) => (None, Err(e)),
                },
            )
        } else if let Some(config) = self.emails.get(target) {
            self.deliver(
                event,
                target,
                "email",
                config.retries,
                config.retry_backoff_ms,
                || (None, send_email(config, event, &self.resolver)),
            )
        } else {
            false
        }
    }

    /// The names of every target, webhooks and email.
    pub(crate) fn targets(&self) -> impl Iterator<Item = &str> {
        self.target_channels().map(|(name, _)| name)
    }

    /// Every target's name with its channel (`webhook` or `email`, as attempts record it).
    pub(crate) fn target_channels(&self) -> impl Iterator<Item = (&str, &'static str)> {
        (self.webhooks.keys().map(|name| (name.as_str(), "webhook")))
            .chain(self.emails.keys().map(|name| (name.as_str(), "email")))
    }

    /// This notifier, counting its running name lookups apart from the other clones'. A
    /// target's thread takes one: a resolver that hangs for one target's host name then
    /// uses up that target's share of lookups ([`MAX_RUNNING_LOOKUPS`]), not every one's.
    pub(crate) fn with_own_lookups(&self) -> Notifier {
        Notifier {
            resolver: Resolver::new(self.resolver.lookup.clone()),
            ..self.clone()
        }
    }

    /// Records `event` as not tried for `target` (attempt 0), `why` as the error: it
    /// could not be queued for sending (`gave_up`), or it was still queued at a stop (kept
    /// for the next start).
    pub(crate) fn record_undelivered(
        &self,
        event: &AlertEvent,
        target: &str,
        why: &str,
        gave_up: bool,
    ) {
        let channel = if self.emails.contains_key(target) {
            "email"
        } else {
            "webhook"
        };
        self.log.record_attempt(NotificationAttempt {
            at_ms: now_ms(),
            rule: event.rule.clone(),
            kind: event.kind,
            minute: event.minute,
            target: target.to_owned(),
            channel: channel.to_owned(),
            attempt: 0,
            ok: false,
            status: None,
            error: Some(why.to_owned()),
            elapsed_ms: 0,
            gave_up,
        });
    }

    /// Runs `attempt` until it succeeds or `retries` retries failed, recording each try
    /// with the HTTP status it got, if any.
    fn deliver(
        &self,
        event: &AlertEvent,
        target: &str,
        channel: &str,
        retries: u32,
        retry_backoff_ms: u64,
        attempt: impl Fn() -> (Option<u16>, Result<(), String>),
    ) -> bool {
        let mut backoff = Duration::from_millis(retry_backoff_ms);
        for number in 1..=retries + 1 {
            let started = Instant::now();
            let (status, outcome) = attempt();
            let ok = outcome.is_ok();
            let last = ok || number == retries + 1;
            self.log.record_attempt(NotificationAttempt {
                at_ms: now_ms(),
                rule: event.rule.clone(),
                kind: event.kind,
                minute: event.minute,
                target: target.to_owned(),
                channel: channel.to_owned(),
                attempt: number,
                ok,
                status,
                error: outcome.err(),
                elapsed_ms: started.elapsed().as_millis() as u64,
                gave_up: !ok && last,
            });
            if ok {
                return true;
            }
            if !last {
                std::thread::sleep(backoff);
                backoff = backoff
                    .saturating_mul(2)
                    .min(Duration::from_millis(MAX_RETRY_BACKOFF_MS));
            }
        }
        false
    }
}

#[cfg(feature = "smtp")]
fn send_email(config: &EmailConfig, event: &AlertEvent, resolver: &Resolver) -> Result<(), String> {
    crate::email::send(config, event, resolver)
}

#[cfg(not(feature = "smtp"))]
fn send_email(
    _config: &EmailConfig,
    _event: &AlertEvent,
    _resolver: &Resolver,
) -> Result<(), String> {
    Err("built without the `smtp` feature".to_owned())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;
    use crate::evaluator::AlertKind;
    use crate::rules::{Measure, ReportKind, Scope};

    fn event() -> AlertEvent {
        AlertEvent {
            rule: "shop-silent".into(),
            kind: AlertKind::Fired,
            minute: 29_922_222,
            time: "2026-11-22T07:42Z".into(),
            scope: Scope {
                domain: "shop".into(),
                report: ReportKind::Transaction,
                type_: None,
                name: None,
                ip: None,
            },
            measure: Measure::Count,
            condition: "below 1".into(),
            value: Some(0.0),
            baseline: None,
            started_minute: 29_922_222,
            minutes: Vec::new(),
            suppressed: false,
            link: String::new(),
            notify: vec!["ops".into()],
        }
    }

    /// A webhook at a host name (never looked up for real: tests give their own lookup).
    fn named_webhook(timeout_ms: u64, retries: u32) -> WebhookConfig {
        WebhookConfig {
            timeout_ms,
            retries,
            retry_backoff_ms: 1,
            ..WebhookConfig::new("ops", "http://alerts.test:8080/hook")
        }
    }

    /// Runs `f` on a thread of its own: a call that blocks fails the test instead of
    /// hanging it.
    fn without_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(Duration::from_secs(30))
            .expect("blocked on the name lookup")
    }

    #[test]
    fn a_hung_name_lookup_fails_the_attempt_at_its_timeout() {
        // The lookup answers only once the test ends (`release` dropped).
        let (release, hung) = mpsc::channel::<()>();
        let hung = Mutex::new(hung);
        let log = AlertLog::new();
        let webhooks = [named_webhook(50, MAX_RUNNING_LOOKUPS as u32)];
        let notifier = Notifier::new(&webhooks, log.clone()).with_lookup(move |_| {
            let _ = hung.lock().unwrap().recv();
            Err(io::Error::other("released"))
        });

        assert_eq!(without_blocking(move || notifier.notify(&event())), 0);
        let snapshot = log.snapshot();
        let errors: Vec<_> = snapshot
            .attempts
            .iter()
            .rev()
            .map(|a| a.error.clone().unwrap())
            .collect();
        // Each hung lookup keeps its thread: past the cap, no further one is started.
        let mut expected = vec!["resolving alerts.test:8080: timed out after 50 ms"; 4];
        expected.push("resolving alerts.test:8080: 4 earlier lookups are still running");
        assert_eq!(errors, expected);
        assert!(snapshot.attempts[0].gave_up);
        drop(release);
    }

    #[test]
    fn a_host_name_is_delivered_to_the_address_it_resolves_to() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        let answered = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = AlertLog::new();
        let notifier = Notifier::new(&[named_webhook(5_000, 0)], log.clone()).with_lookup({
            let asked = asked.clone();
            move |address| {
                asked.lock().unwrap().push(address.to_owned());
                Ok(vec![local])
            }
        });

        assert_eq!(notifier.notify(&event()), 1);
        assert!(answered
            .join()
            .unwrap()
            .contains("Host: alerts.test:8080\r\n"));
        assert_eq!(*asked.lock().unwrap(), vec!["alerts.test:8080".to_owned()]);
        assert_eq!(log.snapshot().attempts[0].status, Some(204));
    }

    /// A mail target whose relay is at a host name (never looked up for real: tests give
    /// their own lookup).
    #[cfg(feature = "smtp")]
    fn named_relay(port: u16, timeout_ms: u64) -> EmailConfig {
        EmailConfig {
            name: "ops".into(),
            smtp: format!("relay.test:{port}"),
            from: "o@example.com".into(),
            to: vec!["oncall@example.com".into()],
            timeout_ms,
            retries: 0,
            retry_backoff_ms: 1,
        }
    }

    /// Answers one SMTP session on `listener` as a relay that takes every message; returns
    /// the message's data.
    #[cfg(feature = "smtp")]
    fn relay_once(listener: TcpListener) -> std::thread::JoinHandle<String> {
        use std::io::BufRead as _;
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = std::io::BufReader::new(stream);
            writer.write_all(b"220 relay.test ESMTP\r\n").unwrap();
            let mut data = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 {
                let command = std::mem::take(&mut line).trim_end().to_ascii_uppercase();
                if command == "DATA" {
                    writer.write_all(b"354 go ahead\r\n").unwrap();
                    while reader.read_line(&mut line).unwrap() > 0 && line != ".\r\n" {
                        data.push_str(&std::mem::take(&mut line));
                    }
                    line.clear();
                    writer.write_all(b"250 queued\r\n").unwrap();
                } else if command == "QUIT" {
                    writer.write_all(b"221 bye\r\n").unwrap();
                    break;
                } else {
                    writer.write_all(b"250 relay.test\r\n").unwrap();
                }
            }
            data
        })
    }

    /// lettre looked the relay's name up with the system resolver, which has no timeout:
    /// a DNS server that did not answer held the notification thread past the attempt's
    /// timeout, for as long as the resolver's retries add up to.
    #[cfg(feature = "smtp")]
    #[test]
    fn a_hung_name_lookup_of_a_mail_relay_fails_the_attempt_at_its_timeout() {
        // The lookup answers only once the test ends (`release` dropped).
        let (release, hung) = mpsc::channel::<()>();
        let hung = Mutex::new(hung);
        let log = AlertLog::new();
        let notifier = Notifier::new(&[], log.clone())
            .with_emails(&[named_relay(25, 50)])
            .with_lookup(move |_| {
                let _ = hung.lock().unwrap().recv();
                Err(io::Error::other("released"))
            });

        assert_eq!(without_blocking(move || notifier.notify(&event())), 0);
        let attempts = log.snapshot().attempts;
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert_eq!(attempts[0].channel, "email");
        assert_eq!(
            attempts[0].error.as_deref(),
            Some("resolving relay.test:25: timed out after 50 ms")
        );
        drop(release);
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn a_mail_relay_is_looked_up_and_its_addresses_tried_in_turn() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = listener.local_addr().unwrap();
        // An address nothing listens on (its listener is gone), given first.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let received = relay_once(listener);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = AlertLog::new();
        let notifier = Notifier::new(&[], log.clone())
            .with_emails(&[named_relay(2525, 5_000)])
            .with_lookup({
                let asked = asked.clone();
                move |address| {
                    asked.lock().unwrap().push(address.to_owned());
                    Ok(vec![closed, relay])
                }
            });

        assert_eq!(
            notifier.notify(&event()),
            1,
            "{:?}",
            log.snapshot().attempts
        );
        let mail = received.join().unwrap();
        assert!(mail.contains("shop-silent"), "{mail}");
        assert!(mail.contains("\r\nMessage-ID: <"), "{mail}");
        assert_eq!(*asked.lock().unwrap(), vec!["relay.test:2525".to_owned()]);
    }

    #[test]
    fn http_urls_parse_into_address_host_and_path() {
        let url = HttpUrl::parse("http://127.0.0.1:9000/hooks/ocelot?x=1").unwrap();
        assert_eq!(url.address, "127.0.0.1:9000");
        assert_eq!(url.host_header, "127.0.0.1:9000");
        assert_eq!(url.path, "/hooks/ocelot?x=1");
        let url = HttpUrl::parse("http://alerts.local").unwrap();
        assert_eq!(
            (url.address.as_str(), url.path.as_str()),
            ("alerts.local:80", "/")
        );
        let url = HttpUrl::parse("http://[::1]:81/x").unwrap();
        assert_eq!(url.address, "[::1]:81");
        let url = HttpUrl::parse("http://[::1]/x").unwrap();
        assert_eq!(url.address, "[::1]:80");
        assert_eq!(url.server_name, None);
    }

    /// `https://` was refused at load ("no TLS client"), though nearly every hosted
    /// webhook service is https-only.
    #[test]
    fn https_urls_default_to_port_443_and_name_the_host_the_certificate_is_for() {
        let url = HttpUrl::parse("https://hooks.example/x").unwrap();
        assert_eq!(url.address, "hooks.example:443");
        assert_eq!(url.host_header, "hooks.example");
        assert_eq!(
            url.server_name,
            Some(ServerName::try_from("hooks.example").unwrap())
        );
        // The scheme in any case.
        let url = HttpUrl::parse("HTTPS://hooks.example/x").unwrap();
        assert_eq!(url.address, "hooks.example:443");
        assert!(url.server_name.is_some());
        assert!(HttpUrl::parse("Http://hooks.example/x")
            .unwrap()
            .server_name
            .is_none());
        let url = HttpUrl::parse("https://127.0.0.1:8443/x").unwrap();
        assert_eq!(url.address, "127.0.0.1:8443");
        assert_eq!(
            url.server_name,
            Some(ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
        );
        let url = HttpUrl::parse("https://[::1]/x").unwrap();
        assert_eq!(url.address, "[::1]:443");
        assert_eq!(
            url.server_name,
            Some(ServerName::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()))
        );
        // check_host takes it, but no certificate can name it.
        assert!(HttpUrl::parse("https://a..b/")
            .unwrap_err()
            .contains("cannot be checked against a certificate"));
    }

    #[test]
    fn malformed_urls_are_rejected_with_the_reason() {
        assert!(HttpUrl::parse("ftp://x")
            .unwrap_err()
            .contains("not an http:// or https:// URL"));
        assert!(HttpUrl::parse("http://host:99999/")
            .unwrap_err()
            .contains("bad port"));
        assert!(HttpUrl::parse("http:///x").unwrap_err().contains("no host"));
        assert!(HttpUrl::parse("http://127.0.0.1:0/hook")
            .unwrap_err()
            .contains("bad port \"0\""));
    }

    /// `http://a b/` was accepted and looked up as `a b`; a path with a space or a
    /// non-ASCII letter was sent raw (`POST /my hook/ü HTTP/1.1`), which servers refuse.
    #[test]
    fn hosts_with_bad_characters_are_rejected_and_paths_are_percent_encoded() {
        for (url, why) in [
            ("http://a b/", "holds ' '"),
            ("http://a%20b/", "holds '%'"),
            ("http://h\u{e9}te.example/x", "xn-- (punycode)"),
            ("http://[not-ip]:80/", "bad IPv6 host"),
            ("http://:80/", "no host"),
            ("http://host\r\nX/", "holds '\\r'"),
        ] {
            let err = HttpUrl::parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        let url = HttpUrl::parse("http://127.0.0.1:29994/my hook/\u{fc}?q=a b&r=%2F#top").unwrap();
        assert_eq!(url.path, "/my%20hook/%C3%BC?q=a%20b&r=%2F");
        assert_eq!(url.host_header, "127.0.0.1:29994");
        let url = HttpUrl::parse("http://hooks_1.example?x=\"<50%>\"").unwrap();
        assert_eq!(url.path, "/?x=%22%3C50%25%3E%22");
        assert_eq!(url.address, "hooks_1.example:80");
        let url = HttpUrl::parse("http://h/a\r\nHost: evil").unwrap();
        assert_eq!(url.path, "/a%0D%0AHost:%20evil");
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status("HTTP/1.1 204 No Content"), Some(204));
        assert_eq!(parse_status("HTTP/1.0 500"), Some(500));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
    }
}
