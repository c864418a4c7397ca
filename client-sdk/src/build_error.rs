//! [`BuildError`]: a client configuration that could never send a tree as meant, and the
//! checks that find one.
//!
//! [`crate::ClientBuilder::try_build`] returns the first problem; [`crate::ClientBuilder::build`]
//! never fails: it works around each problem (see its docs) and says so on stderr and in
//! [`crate::Client::last_transport_error`]. Only the form of the settings is checked here. A
//! collector that is down, or a host name that does not resolve, is not a configuration
//! error: the sender retries those while the application runs.

use std::fmt;

use ocelot_protocol::names::{domain_problem, MAX_DOMAIN_BYTES};

/// Why [`crate::ClientBuilder::try_build`] refused to build a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A domain the collector refuses (every tree of it would be counted there as
    /// `invalid_domain` and lost): empty, longer than 128 bytes, a byte outside printable
    /// ASCII, a `/` or `\`, or a leading `.`. The domain names a folder of the collector's
    /// store, as it does in CAT, whose consumers refuse the same (`DomainValidator`).
    Domain {
        /// The domain as it was given.
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A collector or router address that can never be connected to: a port over 65535, a
    /// URL, a host name with a space.
    Address {
        /// The address as it was given.
        address: String,
        /// Whether it was given as the router (else as a collector).
        router: bool,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither a collector nor a router was given (and no transport of its own): trees
    /// would wait in the queue until it is full, and then be dropped.
    NoCollector,
    /// A queue bound of 0 (`queue_trees` or `queue_bytes`): every tree would be dropped.
    /// Often a setting left at `Default::default()` in the application's own config.
    ZeroQueue {
        /// The builder method given 0.
        setting: &'static str,
    },
    /// An environment variable [`crate::ClientBuilder::with_env`] reads holds what it cannot
    /// use.
    Env {
        /// The variable.
        variable: &'static str,
        /// What it holds (bytes that are not UTF-8 as U+FFFD).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Domain { domain, reason } => {
                write!(f, "bad domain {domain:?}: it {reason}")
            }
            BuildError::Address {
                address,
                router,
                reason,
            } => {
                let what = if *router { "router" } else { "collector" };
                write!(f, "bad {what} address {address:?}: {reason}")
            }
            BuildError::NoCollector => {
                f.write_str("no collector or router to send to: nothing can be sent")
            }
            BuildError::ZeroQueue { setting } => {
                write!(f, "{setting}(0): a queue of 0 drops every tree")
            }
            BuildError::Env {
                variable,
                value,
                reason,
            } => write!(f, "{variable}={value:?} {reason}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why the collector would refuse `domain`, or `Ok`: the protocol's rule, which the
/// collector applies to every tree's domain.
pub(crate) fn check_domain(domain: &str) -> Result<(), &'static str> {
    domain_problem(domain).map_or(Ok(()), Err)
}

/// A domain the collector takes, made from one it refuses: `unknown` (CAT's default) for an
/// empty one, else each refused character (and a leading `.`) as `_`, cut to
/// [`MAX_DOMAIN_BYTES`]. What [`crate::ClientBuilder::build`] sends under instead of losing
/// every tree.
pub(crate) fn usable_domain(domain: &str) -> String {
    if domain.is_empty() {
        return "unknown".to_owned();
    }
    let mut usable: String = domain
        .chars()
        .map(|c| match c {
            '/' | '\\' => '_',
            ' '..='~' => c,
            _ => '_',
        })
        .take(MAX_DOMAIN_BYTES)
        .collect();
    if usable.starts_with('.') {
        usable.replace_range(..1, "_");
    }
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_as_the_collector_checks_them() {
        for good in [
            "order-service",
            "unknown",
            "a",
            "with space",
            &"d".repeat(128),
        ] {
            assert_eq!(check_domain(good), Ok(()), "{good:?}");
        }
        for (bad, reason) in [
            ("", "is empty"),
            (&"d".repeat(129), "is longer than 128 bytes"),
            (".hidden", "starts with '.'"),
            ("..", "starts with '.'"),
            ("a/b", "contains a path separator"),
            ("a\\b", "contains a path separator"),
            ("order\tservice", "contains a byte outside printable ASCII"),
            ("订单服务", "contains a byte outside printable ASCII"),
        ] {
            assert_eq!(check_domain(bad), Err(reason), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_domain_becomes_one_the_collector_takes() {
        for (bad, usable) in [
            ("", "unknown"),
            (".hidden", "_hidden"),
            ("a/b\\c", "a_b_c"),
            ("order\tservice\n", "order_service_"),
            ("订单-service", "__-service"),
        ] {
            assert_eq!(usable_domain(bad), usable, "{bad:?}");
            assert_eq!(check_domain(&usable_domain(bad)), Ok(()), "{bad:?}");
        }
        let long = usable_domain(&"é".repeat(200));
        assert_eq!(long.len(), MAX_DOMAIN_BYTES);
        assert_eq!(check_domain(&long), Ok(()));
    }
}
