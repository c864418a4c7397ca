//! Every link the pages offer leads to a page: a crawl of a running `ocelot serve --demo`
//! from its home page, as a user clicking through would go, over every kind of page.

mod common;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use common::{eventually, free_port, Server};

/// Pages fetched at most (the crawl goes breadth first, so every kind of page the home
/// page leads to within a few clicks is among them).
const MAX_PAGES: usize = 400;

/// URLs fetched per shape (path and parameter names): a board sorted ten ways is one
/// kind of page.
const PER_SHAPE: usize = 8;

/// What the spoiled parameters are set to (percent-encoded as a browser sends them): empty,
/// a word, negative, too large for any integer, invalid UTF-8, a NUL, an hour that is
/// not one, a path climbing out, a right-to-left override, and 4 000 characters.
const BAD_VALUES: [&str; 10] = [
    "",
    "x",
    "-1",
    "99999999999999999999999",
    "%FF%FE",
    "%00",
    "2026133199",
    "..%2F..%2Fetc",
    "%E2%80%AE",
    "LONG",
];

/// The value of each `href="..."` and `src="..."` in `html`, HTML entities decoded.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let Some(end) = rest.find('"') else { break };
            found.push(
                rest[..end]
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            );
            rest = &rest[end..];
        }
    }
    found
}

/// `path` and the sorted names of its query parameters (a message ID in the path, as in
/// LogView's, makes one shape of all IDs).
fn shape(url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = match path {
        p if p.starts_with("/m/") => "/m/*",
        p if p.starts_with("/api/message/") => "/api/message/*",
        p => p,
    };
    let names: BTreeSet<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(name, _)| name))
        .collect();
    format!("{path}?{}", names.into_iter().collect::<Vec<_>>().join("&"))
}

/// What a crawl from the home page found.
struct Crawl {
    fetched: usize,
    /// URLs queued per shape.
    per_shape: HashMap<String, usize>,
    /// The first URL of each shape.
    examples: HashMap<String, String>,
    /// What failed, one line each.
    broken: Vec<String>,
    seconds: f64,
}

/// Crawls `server` from its home page, breadth first.
fn crawl(server: &Server) -> Crawl {
    let started = Instant::now();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut seen = BTreeSet::from(["/".to_owned()]);
    let mut per_shape: HashMap<String, usize> = HashMap::new();
    // The first URL of each shape.
    let mut examples: HashMap<String, String> = HashMap::new();
    let mut broken = Vec::new();
    let mut fetched = 0;
    while let Some(url) = queue.pop_front() {
        if fetched == MAX_PAGES {
            break;
        }
        fetched += 1;
        let (status, body) = server.get(&url);
        if !(200..400).contains(&status) {
            broken.push(format!("{status} {url}"));
            continue;
        }
        // Figures a page should never print: a division by zero or a missing value shown
        // as a number.
        let page = body.contains("<html");
        for bad in ["NaN", "inf ms", "Infinity", "undefined"] {
            if page && body.contains(bad) {
                broken.push(format!("{status} {url}: shows {bad:?}"));
            }
        }
        for link in links(&body) {
            // Same-origin paths only; a fragment is the same page.
            let Some(link) = link.strip_prefix('/').map(|l| format!("/{l}")) else {
                continue;
            };
            if link.starts_with("//") {
                continue;
            }
            let link = link.split('#').next().unwrap_or_default().to_owned();
            if link.is_empty() || !seen.insert(link.clone()) {
                continue;
            }
            let count = per_shape.entry(shape(&link)).or_default();
            examples.entry(shape(&link)).or_insert_with(|| link.clone());
            if *count < PER_SHAPE {
                *count += 1;
                queue.push_back(link);
            }
        }
    }
    Crawl {
        fetched,
        per_shape,
        examples,
        broken,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The hour the server is in, as `/api/hours` names it.
fn current_hour(server: &Server) -> Option<String> {
    Some(server.json("/api/hours")?["current"].as_str()?.to_owned())
}

#[test]
fn every_link_on_the_demo_pages_leads_to_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), free_port(), free_port(), true);
    // The demo's traffic has reached the boards: a domain with transactions, a tree whose
    // LogView the boards link to, and heartbeats (the demo sends its first at once).
    // The hour is named, not `current`: one that turns during the test does not empty the
    // API's answers.
    let ready = eventually(Duration::from_secs(60), || {
        let hour = current_hour(&server)?;
        let domains = server.json("/api/domains")?;
        let domain = domains["domains"].as_array()?.first()?.as_str()?.to_owned();
        let report = server.json(&format!("/api/transaction?domain={domain}&hour={hour}"))?;
        let first_type = report["types"].as_array()?.first()?;
        let sampled = first_type["names"].as_array()?.iter().find(|n| {
            n["sampleMessageId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        })?;
        // A type and a name the API has (one it has not is a 404).
        let transaction = (
            first_type["type"].as_str()?.to_owned(),
            sampled["name"].as_str()?.to_owned(),
        );
        let events = server.json(&format!("/api/event?domain={domain}&hour={hour}"))?;
        let event_type = events["types"].as_array()?.first()?["type"]
            .as_str()?
            .to_owned();
        let heartbeats = server.json(&format!("/api/heartbeat?domain={domain}&hour={hour}"))?;
        let heard = |ip: &str| {
            heartbeats["ips"]
                .as_array()
                .is_some_and(|ips| ips.iter().any(|i| i == ip))
        };
        heard("10.0.1.1").then_some((domain, hour, transaction, event_type))
    });
    let (domain, hour, (type_, name), event_type) =
        ready.expect("the demo sent no traffic within 60 s");

    // A crawl across the turn of an hour may follow a link of the old hour to a page of
    // the new one, which has no data yet: crawled again then.
    let mut found = crawl(&server);
    if current_hour(&server).as_deref() != Some(hour.as_str()) {
        found = crawl(&server);
    }
    let Crawl {
        fetched,
        per_shape,
        mut examples,
        broken,
        seconds,
    } = found;

    let kinds: BTreeSet<&str> = per_shape
        .keys()
        .map(|s| s.split('?').next().unwrap_or_default())
        .collect();
    eprintln!(
        "crawled {fetched} pages of {} shapes in {seconds:.1} s; paths: {kinds:?}",
        per_shape.len(),
    );
    assert!(
        broken.is_empty(),
        "links that lead nowhere:\n{}",
        broken.join("\n")
    );
    // The crawl reached the pages a user reaches from the home page.
    for path in [
        "/t", "/e", "/p", "/h", "/d", "/metric", "/m/", "/alerts", "/state",
    ] {
        assert!(
            kinds.iter().any(|k| k.starts_with(path)),
            "no link to {path}: {kinds:?}"
        );
    }

    // The JSON API, which pages do not link to, with every parameter it takes.
    let encode = |text: &str| -> String {
        (text.bytes())
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let (type_, name, event_type) = (encode(&type_), encode(&name), encode(&event_type));
    for api in [
        format!("transaction?hour=HOUR&ip=All&type={type_}&name={name}&limit=10"),
        format!("event?hour=HOUR&ip=All&type={event_type}"),
        "problem?hour=HOUR&ip=All".to_owned(),
        "heartbeat?hour=HOUR&ip=10.0.1.1".to_owned(),
        "metric?hour=HOUR&ip=All".to_owned(),
        "dependency?hour=HOUR&ip=All".to_owned(),
        "transaction?day=current".to_owned(),
    ] {
        let url = format!("/api/{}&domain={domain}", api.replace("HOUR", &hour));
        assert_eq!(server.get(&url).0, 200, "{url}");
        examples.insert(url.clone(), url);
    }
    examples.insert("state".into(), format!("/api/state?hour={hour}"));
    examples.insert("hours".into(), format!("/api/hours?domain={domain}"));
    // Every parameter of every kind of page, spoiled one at a time: a wrong value is
    // answered (a 400 or 404 that says why, or a page that ignores it), never with a 500,
    // and the server stays up.
    let long = "a".repeat(4_000);
    let mut failures = Vec::new();
    let mut asked = 0;
    for url in examples.values() {
        let Some((path, query)) = url.split_once('?') else {
            continue;
        };
        let params: Vec<(&str, &str)> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        for spoiled_at in 0..params.len() {
            for bad in BAD_VALUES {
                let bad = if bad == "LONG" { long.as_str() } else { bad };
                let query: Vec<String> = params
                    .iter()
                    .enumerate()
                    .map(|(i, (name, value))| {
                        let value = if i == spoiled_at { bad } else { value };
                        format!("{name}={value}")
                    })
                    .collect();
                let spoiled = format!("{path}?{}", query.join("&"));
                let (status, _) = server.get(&spoiled);
                asked += 1;
                if !(200..500).contains(&status) {
                    failures.push(format!("{status} {spoiled:.200}"));
                }
            }
        }
    }
    eprintln!("asked {asked} spoiled URLs");
    assert_eq!(server.get("/").0, 200, "the server is still up");
    assert!(asked > 100, "too few parameters to spoil: {asked}");
    assert!(
        failures.is_empty(),
        "spoiled parameters that failed the server:\n{}",
        failures.join("\n")
    );
}
