//! CAT's router endpoint, `GET /cat/s/router?op=api|json|xml&domain=..&ip=..`: how CAT
//! clients learn which collector to send trees to (reference section 4, 3.1.0 semantics).
//! The Java 4.0 client asks `op=json` with a `token` and parses a Java `Map.toString()`
//! (`{routers=.., block=false, ..}`), not JSON: a request with a `token` gets that form.
//!
//! Constraints from the C client (`ccat`): it speaks HTTP/1.0 with an absolute-form request
//! line, reads at most 2047 bytes until the connection closes, and accepts only dotted IPv4
//! addresses. So the answer is small, has a Content-Length (never chunked), says
//! `Connection: close`, and lists IPv4 literals only. It is always open: clients cannot
//! authenticate.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use crate::error::LossyQuery;
use crate::server::ClientAddrs;
use crate::state::{AppState, CatRouterConfig};

/// Where CAT clients ask for routes.
pub(crate) const ROUTER_PATH: &str = "/cat/s/router";

/// The open routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(ROUTER_PATH, get(router_endpoint))
}

/// Query parameters. `domain` and `ip` are accepted (clients send them) but do not change
/// the answer, as they do in CAT's router: every client gets the same ordered list, and
/// clients send to the first collector they reach, so a second node is a standby, not a
/// share of the domains (docs/operations.md, "One node or several").
#[derive(Debug, Deserialize)]
struct RouterQuery {
    op: Option<String>,
    /// Sent by the Java 4.0 client only (its tenant token, `null` when unset).
    token: Option<String>,
}

/// The three answer shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouterFormat {
    /// `ip:port;ip:port;` (CAT's default for unknown ops).
    Api,
    /// `{"kvs":{..}}` with string values: the C client.
    Json,
    /// `<property-config>`: the Java 3.x client.
    Xml,
    /// `{routers=.., block=false, ..}` (a Java `Map.toString()`): the Java 4.0 client.
    JavaMap,
}

impl RouterFormat {
    fn of(query: &RouterQuery) -> Self {
        match query.op.as_deref() {
            Some("json") if query.token.is_some() => RouterFormat::JavaMap,
            Some("json") => RouterFormat::Json,
            Some("xml") => RouterFormat::Xml,
            _ => RouterFormat::Api,
        }
    }
}

async fn router_endpoint(
    State(state): State<AppState>,
    connect_info: Option<Extension<ConnectInfo<ClientAddrs>>>,
    headers: HeaderMap,
    LossyQuery(query): LossyQuery<RouterQuery>,
) -> Response {
    let addrs = connect_info.map(|Extension(ConnectInfo(addrs))| addrs);
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let routers = advertised_routers(&state.cat_router, addrs.map(|a| a.local.ip()), host);
    if let Some(addrs) = addrs.filter(|a| !a.remote.ip().is_loopback()) {
        if let Some(why) = loopback_for_remote(&state.cat_router, &routers) {
            LOOPBACK_ROUTER_WARNED.call_once(|| {
                tracing::warn!(client = %addrs.remote, %routers, "told a CAT client on another machine to send to a loopback address, that is to itself: {why} (said once)");
            });
        }
    }
    let format = RouterFormat::of(&query);
    let (content_type, body) = match format {
        RouterFormat::Api => ("text/plain; charset=utf-8", routers),
        RouterFormat::Json => (
            "application/json; charset=utf-8",
            json_body(&state.cat_router, &routers),
        ),
        RouterFormat::Xml => (
            "application/xml; charset=utf-8",
            xml_body(&state.cat_router, &routers),
        ),
        RouterFormat::JavaMap => (
            "text/plain; charset=utf-8",
            java_map_body(&state.cat_router, &routers),
        ),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::CONNECTION, HeaderValue::from_static("close"))
        .body(Body::from(body))
        .expect("static headers and a sized body make a valid response")
}

/// Whether a remote client was told to use loopback (see [`router_endpoint`]).
static LOOPBACK_ROUTER_WARNED: std::sync::Once = std::sync::Once::new();

/// Why the answer `routers` sends a client on another machine to its own loopback, if it
/// lists a loopback collector. Without `web.advertise` the answer falls back to loopback
/// when the request shows no IPv4 address of this host (an IPv6 connection with a host
/// name); with it, the list itself names one. That second case went unwarned: a collector
/// listening on 127.0.0.1 is advertised as such (the binary warns at start too).
fn loopback_for_remote(config: &CatRouterConfig, routers: &str) -> Option<&'static str> {
    let loopback = routers
        .split(';')
        .filter_map(|addr| addr.parse::<SocketAddrV4>().ok())
        .any(|addr| addr.ip().is_loopback());
    match (loopback, config.routers.is_empty()) {
        (false, _) => None,
        (true, true) => {
            Some("its request shows no IPv4 address of this host; set web.advertise in the config")
        }
        (true, false) => Some(
            "the advertised collectors (web.advertise, else collector.listen) name a loopback \
             address; give the collector a routable one",
        ),
    }
}

/// The `routers` value: `ip:port;` per collector, trailing `;` as CAT writes it.
///
/// Configured addresses win. Otherwise the collector port on the IPv4 address the client
/// reached us on: the connection's local address, else the `Host` header if it is an IPv4
/// literal, else loopback.
fn advertised_routers(
    config: &CatRouterConfig,
    local: Option<IpAddr>,
    host: Option<&str>,
) -> String {
    let addrs: Vec<SocketAddrV4> = if config.routers.is_empty() {
        let ip = local
            .and_then(usable_ipv4)
            .or_else(|| host.and_then(host_ipv4))
            .unwrap_or(Ipv4Addr::LOCALHOST);
        vec![SocketAddrV4::new(ip, config.collector_port)]
    } else {
        config.routers.clone()
    };
    addrs.iter().map(|addr| format!("{addr};")).collect()
}

/// An address clients can dial: IPv4 (or IPv4-mapped IPv6), not `0.0.0.0`.
fn usable_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
    };
    (!v4.is_unspecified()).then_some(v4)
}

/// The IPv4 literal in a `Host` header (`10.0.0.5:8080` or `10.0.0.5`), if it is one.
fn host_ipv4(host: &str) -> Option<Ipv4Addr> {
    let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    name.parse::<Ipv4Addr>()
        .ok()
        .and_then(|ip| usable_ipv4(IpAddr::V4(ip)))
}

/// Java's `Double.toString` for the sample rate; never `0`, which the C client divides by.
fn sample_string(sample: f64) -> String {
    let sample = if sample > 0.0 && sample <= 1.0 {
        sample
    } else {
        1.0
    };
    format!("{sample:?}")
}

/// The key/values in CAT 3.1.0's order (`Handler#buildKvs`).
fn kvs(config: &CatRouterConfig, routers: &str) -> [(&'static str, String); 5] {
    [
        ("routers", routers.to_owned()),
        ("block", config.block.to_string()),
        ("sample", sample_string(config.sample)),
        (
            "startTransactionTypes",
            config.start_transaction_types.clone(),
        ),
        (
            "matchTransactionTypes",
            config.match_transaction_types.clone(),
        ),
    ]
}

/// `{"kvs":{"routers":"..",..}}`, every value a JSON string, keys in CAT's order.
fn json_body(config: &CatRouterConfig, routers: &str) -> String {
    let fields: Vec<String> = kvs(config, routers)
        .iter()
        .map(|(key, value)| {
            let value = serde_json::to_string(value).expect("a string serializes");
            format!("\"{key}\":{value}")
        })
        .collect();
    format!("{{\"kvs\":{{{}}}}}", fields.join(","))
}

/// `{routers=.., block=false, ..}`: what the Java 4.0 client parses (it strips the braces,
/// splits pairs at `,`, each at its first `=`, and trims). That client reads blocking and
/// sampling under other names than 3.1's (`blocked`, `sample.ratio`), so both spellings
/// are sent. A `,` inside a value would split it: the type lists take `;` in its place
/// (their own separator), and `routers` never holds one.
fn java_map_body(config: &CatRouterConfig, routers: &str) -> String {
    let mut pairs = kvs(config, routers).to_vec();
    pairs.push(("blocked", config.block.to_string()));
    pairs.push(("sample.ratio", sample_string(config.sample)));
    let pairs: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", value.replace(',', ";")))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The `PropertyConfig` XML the Java 3.x client parses (`op=xml`).
fn xml_body(config: &CatRouterConfig, routers: &str) -> String {
    let mut body =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<property-config>\r\n");
    // Some Java 3.x clients read `multiInstances` without checking that it is there, and
    // without it throw before applying the rest; CAT's router never sends it. `false` is
    // what those clients assume when it is missing.
    let multi_instances = ("multiInstances", "false".to_owned());
    for (key, value) in kvs(config, routers).into_iter().chain([multi_instances]) {
        body.push_str(&format!(
            "   <property id=\"{key}\" value=\"{}\"/>\r\n",
            xml_escape(&value)
        ));
    }
    body.push_str("</property-config>\r\n");
    body
}

fn xml_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_routers_are_advertised_in_order() {
        let config = CatRouterConfig {
            routers: vec![
                "10.0.0.1:2280".parse().unwrap(),
                "10.0.0.2:2281".parse().unwrap(),
            ],
            ..CatRouterConfig::default()
        };
        let local = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            advertised_routers(&config, local, None),
            "10.0.0.1:2280;10.0.0.2:2281;"
        );
    }

    #[test]
    fn default_router_is_the_collector_port_on_the_local_address() {
        let config = CatRouterConfig::default();
        let local = Some("192.0.2.7".parse().unwrap());
        assert_eq!(advertised_routers(&config, local, None), "192.0.2.7:2280;");
        let mapped = Some("::ffff:192.0.2.8".parse().unwrap());
        assert_eq!(advertised_routers(&config, mapped, None), "192.0.2.8:2280;");
    }

    #[test]
    fn default_router_falls_back_to_an_ipv4_host_header_then_loopback() {
        let config = CatRouterConfig::default();
        let v6 = Some("::1".parse().unwrap());
        assert_eq!(
            advertised_routers(&config, v6, Some("10.1.2.3:8080")),
            "10.1.2.3:2280;"
        );
        assert_eq!(
            advertised_routers(&config, None, Some("cat.example:8080")),
            "127.0.0.1:2280;"
        );
        assert_eq!(
            advertised_routers(&config, Some("0.0.0.0".parse().unwrap()), None),
            "127.0.0.1:2280;"
        );
    }

    /// A remote client told to send to 127.0.0.1 sends to itself: said whether the
    /// loopback address came from the fallback or from the configured list (a collector
    /// listening on 127.0.0.1 is advertised as such, and that went unwarned).
    #[test]
    fn a_loopback_answer_is_explained_whether_configured_or_fallen_back_to() {
        let fallback = CatRouterConfig::default();
        let why = loopback_for_remote(&fallback, "127.0.0.1:2280;").unwrap();
        assert!(why.contains("set web.advertise"), "{why}");
        assert_eq!(loopback_for_remote(&fallback, "10.0.0.5:2280;"), None);
        let configured = CatRouterConfig {
            routers: vec!["127.0.0.1:2280".parse().unwrap()],
            ..CatRouterConfig::default()
        };
        let why = loopback_for_remote(&configured, "10.0.0.5:2280;127.0.0.1:2280;").unwrap();
        assert!(why.contains("name a loopback address"), "{why}");
        assert_eq!(loopback_for_remote(&configured, "10.0.0.5:2280;"), None);
    }

    /// Parsed as the Java 4.0 client parses it (`ServerConfigureSource#parseMap`: pairs at
    /// `,`, each at its first `=`, trimmed).
    fn parse_java_map(body: &str) -> Vec<(String, String)> {
        let inner = body.strip_prefix('{').unwrap().strip_suffix('}').unwrap();
        inner
            .split(',')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn the_java_4_map_form_reads_back_as_the_same_key_values() {
        let config = CatRouterConfig {
            block: true,
            sample: 0.5,
            start_transaction_types: "Cache.;Squirrel.".to_owned(),
            match_transaction_types: "SQL,Cache=x".to_owned(),
            ..CatRouterConfig::default()
        };
        let routers = "10.0.0.1:2280;10.0.0.2:2281;";
        let body = java_map_body(&config, routers);
        assert_eq!(
            parse_java_map(&body),
            [
                ("routers", routers),
                ("block", "true"),
                ("sample", "0.5"),
                ("startTransactionTypes", "Cache.;Squirrel."),
                ("matchTransactionTypes", "SQL;Cache=x"),
                // What the 4.0 client's sender reads (`ConfigureProperty`).
                ("blocked", "true"),
                ("sample.ratio", "0.5"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn sample_is_written_like_java_and_never_zero() {
        assert_eq!(sample_string(1.0), "1.0");
        assert_eq!(sample_string(0.5), "0.5");
        assert_eq!(sample_string(0.0), "1.0");
        assert_eq!(sample_string(f64::NAN), "1.0");
    }

    #[test]
    fn json_body_has_only_string_values_in_cat_order() {
        let body = json_body(&CatRouterConfig::default(), "127.0.0.1:2280;");
        assert_eq!(
            body,
            r#"{"kvs":{"routers":"127.0.0.1:2280;","block":"false","sample":"1.0","startTransactionTypes":"","matchTransactionTypes":""}}"#
        );
    }

    /// Java 3.x's `DefaultClientConfigService.refreshInnerConfig`, in some versions, calls
    /// `findProperty("multiInstances").getValue()` without a null check: without the key it
    /// threw after taking the routers, so `sample`, `block` and the atomic types were never
    /// applied.
    #[test]
    fn xml_body_names_every_key_the_java_3x_client_reads() {
        let body = xml_body(&CatRouterConfig::default(), "127.0.0.1:2280;");
        for key in [
            "routers",
            "block",
            "sample",
            "multiInstances",
            "startTransactionTypes",
            "matchTransactionTypes",
        ] {
            assert!(
                body.contains(&format!("<property id=\"{key}\"")),
                "{key} missing: {body}"
            );
        }
        assert!(body.contains(r#"<property id="multiInstances" value="false"/>"#));
    }

    #[test]
    fn xml_body_is_a_property_config_with_escaped_values() {
        let config = CatRouterConfig {
            match_transaction_types: "SQL&\"x\"".to_owned(),
            ..CatRouterConfig::default()
        };
        let body = xml_body(&config, "127.0.0.1:2280;");
        assert!(
            body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<property-config>\r\n")
        );
        assert!(body.contains(r#"<property id="routers" value="127.0.0.1:2280;"/>"#));
        assert!(body
            .contains(r#"<property id="matchTransactionTypes" value="SQL&amp;&quot;x&quot;"/>"#));
        assert!(body.ends_with("</property-config>\r\n"));
    }
}
