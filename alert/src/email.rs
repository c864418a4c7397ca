//! `[[email]]` targets: alert events as plain-text mail over SMTP (feature `smtp`, through
//! lettre). The config is always parsed so that a rule file with email targets loaded by a
//! build without the feature fails with a clear message instead of silently not mailing.
//!
//! Non-goals for now: TLS and SMTP authentication (lettre is built without a TLS backend,
//! and credentials must not cross the network in clear). Send to a relay that accepts mail
//! from this host (a local MTA, port 25).

use serde::{Deserialize, Serialize};

use crate::error::AlertError;
#[cfg(feature = "smtp")]
use crate::evaluator::AlertEvent;
use crate::notify::{
    validate_delivery, DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF_MS, DEFAULT_TIMEOUT_MS,
};
#[cfg(feature = "smtp")]
use crate::replay::format_events;

/// The SMTP port when `smtp` names none.
pub const DEFAULT_SMTP_PORT: u16 = 25;

/// An `[[email]]` table: a named mail target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// What rules write in `notify` (shared namespace with webhooks).
    pub name: String,
    /// The relay, `host` or `host:port` (default port [`DEFAULT_SMTP_PORT`]).
    pub smtp: String,
    /// Sender address, e.g. `Ocelot <ocelot@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// One attempt's time limit (default [`DEFAULT_TIMEOUT_MS`]).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after a failure (default [`DEFAULT_RETRIES`]).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubled each time (default [`DEFAULT_RETRY_BACKOFF_MS`]).
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

impl EmailConfig {
    /// `(host, port)` of the relay.
    pub(crate) fn relay(&self) -> Result<(String, u16), String> {
        match self.smtp.rsplit_once(':') {
            // Port 0 parses but no relay listens on it.
            Some((host, port)) if !host.is_empty() && !host.ends_with(':') => port
                .parse::<u16>()
                .ok()
                .filter(|&port| port != 0)
                .map(|port| (host.trim_matches(['[', ']']).to_owned(), port))
                .ok_or_else(|| format!("bad port in smtp = {:?}", self.smtp)),
            Some(_) => Err(format!("bad smtp address {:?}", self.smtp)),
            None if self.smtp.is_empty() => Err("missing `smtp` (host or host:port)".to_owned()),
            None => Ok((self.smtp.clone(), DEFAULT_SMTP_PORT)),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), AlertError> {
        let section = format!("email \"{}\"", self.name);
        let fail = |message: String| Err(AlertError::config(&section, message));
        if self.name.is_empty() {
            return Err(AlertError::config("email", "missing `name`"));
        }
        if !cfg!(feature = "smtp") {
            return fail(
                "email targets need Ocelot built with the `smtp` feature (cargo build --features ocelot-alert/smtp)"
                    .to_owned(),
            );
        }
        if let Err(message) = self.relay() {
            return fail(message);
        }
        if self.to.is_empty() {
            return fail("`to` is empty".to_owned());
        }
        validate_delivery(
            &section,
            self.timeout_ms,
            self.retries,
            self.retry_backoff_ms,
        )?;
        #[cfg(feature = "smtp")]
        for address in std::iter::once(&self.from).chain(&self.to) {
            if let Err(e) = address.parse::<lettre::message::Mailbox>() {
                return fail(format!("bad address {address:?}: {e}"));
            }
        }
        Ok(())
    }
}

/// `[ocelot] FIRED pay-spike: shop transaction URL /pay count=30`.
#[cfg(feature = "smtp")]
fn subject(event: &AlertEvent) -> String {
    let value = event.value.map_or_else(
        || "-".to_owned(),
        |v| format!("{v:.2}").trim_end_matches(".00").to_owned(),
    );
    format!(
        "[ocelot] {} {}: {} {}={value}",
        event.kind, event.rule, event.scope, event.measure
    )
}

/// The plain-text body: the replay line, the minutes involved and the link.
#[cfg(feature = "smtp")]
fn body(event: &AlertEvent) -> String {
    let mut text = format_events(std::slice::from_ref(event));
    text.push_str("\nminute             value      baseline\n");
    for point in &event.minutes {
        let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        text.push_str(&format!(
            "{}  {:<10} {}\n",
            point.time,
            show(point.value),
            show(point.baseline)
        ));
    }
    text.push_str(&format!("\n{}\n", event.link));
    text
}

/// Sends one mail; `Err` with the reason if the relay did not accept it in time.
///
/// The relay's name is looked up by `resolver`, within `timeout_ms`, and lettre is given
/// its addresses: lettre looks names up with the system resolver, which has no timeout,
/// and a DNS server that did not answer held the notification thread (and every event
/// queued behind this one) for as long as the resolver's retries add up to. The addresses
/// are tried in turn until one takes the connection, as lettre tries them.
#[cfg(feature = "smtp")]
pub(crate) fn send(
    config: &EmailConfig,
    event: &AlertEvent,
    resolver: &crate::notify::Resolver,
) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::{Message, SmtpTransport, Transport};

    let mut message = Message::builder()
        .from(config.from.parse().map_err(|e| format!("from: {e}"))?)
        .subject(subject(event))
        // RFC 5322 asks for one, and some mail providers refuse mail without it; a relay
        // that forwards as it gets it would not add one.
        .message_id(None)
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        message = message.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    let message = message.body(body(event)).map_err(|e| e.to_string())?;
    let (host, port) = config.relay()?;
    let timeout = std::time::Duration::from_millis(config.timeout_ms);
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs = resolver.resolve(&address, timeout, timeout)?;
    let mut last_error = format!("{address}: no address");
    for addr in addrs {
        // `builder_dangerous`: plain SMTP, no TLS (see the module docs). An IP address
        // needs no lookup; without TLS lettre uses the name for nothing else.
        let transport = SmtpTransport::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .timeout(Some(timeout))
            .build();
        match transport.send(&message) {
            Ok(_) => return Ok(()),
            // No connection to this address: the next may take it, as lettre would try
            // it. lettre names the kind of an error only in its text. Once connected,
            // whatever went wrong is the attempt's outcome: the mail may have gone out.
            Err(e) if e.to_string().starts_with("Connection error") => {
                last_error = format!("{addr}: {e}");
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smtp: &str) -> EmailConfig {
        EmailConfig {
            name: "oncall".into(),
            smtp: smtp.into(),
            from: "Ocelot <ocelot@example.com>".into(),
            to: vec!["oncall@example.com".into()],
            timeout_ms: 1000,
            retries: 0,
            retry_backoff_ms: 0,
        }
    }

    #[test]
    fn relays_default_to_port_25() {
        assert_eq!(
            config("mail.local").relay().unwrap(),
            ("mail.local".into(), 25)
        );
        assert_eq!(
            config("127.0.0.1:2525").relay().unwrap(),
            ("127.0.0.1".into(), 2525)
        );
        assert!(config("host:x").relay().is_err());
        assert!(config("127.0.0.1:0").relay().is_err());
        assert!(config("").relay().is_err());
    }

    #[cfg(not(feature = "smtp"))]
    #[test]
    fn email_targets_without_the_smtp_feature_are_rejected_at_load() {
        let message = config("127.0.0.1:25").validate().unwrap_err().to_string();
        assert!(
            message.contains("need Ocelot built with the `smtp` feature"),
            "{message}"
        );
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn bad_addresses_are_rejected_at_load() {
        let mut bad = config("127.0.0.1:25");
        bad.to = vec!["not an address".into()];
        let message = bad.validate().unwrap_err().to_string();
        assert!(
            message.starts_with("email \"oncall\": bad address \"not an address\""),
            "{message}"
        );
        assert!(config("127.0.0.1:25").validate().is_ok());
    }
}
