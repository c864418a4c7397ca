//! Flattens a heartbeat's `<status>` XML into named numeric series.
//!
//! Kept generic rather than modelling CAT's status schema, so new client versions and
//! custom extensions show up without code changes:
//!
//! * `<extension id="E"><extensionDetail id="D" value="V"/>` gives `E.D = V` (both the
//!   Java client's extensions and the C client's `system.process`).
//! * Any other element contributes its path: each element's name, with its `id` (or, below
//!   the top level, `name`) attribute in brackets (`disk.disk-volume[/].free`,
//!   `memory.gc[ParNew].count`);
//!   every attribute that parses as a finite number becomes `path.attribute`, except
//!   versions (`os version="5.10"`, `runtime java-version="17"`): a number there names a
//!   release, it measures nothing, and as a float `5.10` would read `5.1`.
//! * The `<status>` root adds no segment; text content (descriptions) is ignored.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Deepest element nesting accepted; CAT documents are 4 deep.
const MAX_DEPTH: usize = 32;

/// The series of `xml`, in document order, or `None` if it is not well-formed (CAT drops
/// such heartbeats silently; we count them).
pub(crate) fn parse_status(xml: &str) -> Option<Vec<(String, f64)>> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut series = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) => {
                let segment = visit(&element, &path, &mut series)?;
                if path.len() >= MAX_DEPTH {
                    return None;
                }
                path.push(segment);
            }
            Event::Empty(element) => {
                visit(&element, &path, &mut series)?;
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Some(series)
}

/// Collects the numbers of one element and returns its path segment.
fn visit(
    element: &BytesStart<'_>,
    path: &[String],
    series: &mut Vec<(String, f64)>,
) -> Option<String> {
    let tag = String::from_utf8_lossy(element.name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    // quick-xml's own check for a repeated key compares each attribute with every one
    // before it: one element of 100 000 attributes (a 1.4 MB heartbeat anyone may send)
    // held an analyzer thread for 12 s. The keys are checked here in one pass instead.
    let mut keys = std::collections::HashSet::new();
    for attribute in element.attributes().with_checks(false) {
        let attribute = attribute.ok()?;
        let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
        let value = attribute.unescape_value().ok()?.into_owned();
        if !keys.insert(key.clone()) {
            return None;
        }
        attributes.push((key, value));
    }
    let attribute = |wanted: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == wanted)
            .map(|(_, v)| v.as_str())
    };
    let prefix = path
        .iter()
        .filter(|s| !s.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(".");
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match tag.as_str() {
        "status" if path.is_empty() => {
            numbers(&attributes, &[], |k, v| series.push((k.to_owned(), v)));
            Some(String::new())
        }
        "extension" => {
            let id = attribute("id").unwrap_or("extension").to_owned();
            // Attributes beside `id` are details too (CAT's dynamic attributes).
            let base = join(&id);
            numbers(&attributes, &["id"], |k, v| {
                series.push((format!("{base}.{k}"), v));
            });
            Some(id)
        }
        "extensionDetail" => {
            if let (Some(id), Some(value)) = (attribute("id"), attribute("value")) {
                if let Some(v) = number(value) {
                    series.push((join(id), v));
                }
            }
            Some(String::new())
        }
        _ => {
            // `name` names list items (`memory/gc name="ParNew"`), but on a top-level element
            // it is a plain property (`os name="Linux"`).
            let nested = path.iter().filter(|s| !s.is_empty()).count() > 0;
            let key = attribute("id").or_else(|| attribute("name").filter(|_| nested));
            let segment = match key {
                Some(key) => format!("{tag}[{key}]"),
                None => tag,
            };
            let base = join(&segment);
            numbers(&attributes, &["id", "name"], |k, v| {
                series.push((format!("{base}.{k}"), v));
            });
            Some(segment)
        }
    }
}

fn numbers(attributes: &[(String, String)], skip: &[&str], mut found: impl FnMut(&str, f64)) {
    for (key, value) in attributes {
        if skip.contains(&key.as_str()) || is_version(key) {
            continue;
        }
        if let Some(v) = number(value) {
            found(key, v);
        }
    }
}

/// Whether an attribute names a version (`version`, `java-version`, any case): not a
/// figure, though it may parse as one.
fn is_version(key: &str) -> bool {
    let tail = key
        .len()
        .checked_sub("version".len())
        .and_then(|i| key.get(i..));
    tail.is_some_and(|tail| tail.eq_ignore_ascii_case("version"))
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_client_extension_details_become_series() {
        let xml = r#"<status><extension id="system.process"><description>&lt;![CDATA[x]]&gt;</description><extensionDetail id="load.1min" value="1.040000"></extensionDetail><extensionDetail id="mem.memfree" value="24910352384"></extensionDetail></extension></status>"#;
        assert_eq!(
            parse_status(xml).unwrap(),
            vec![
                ("system.process.load.1min".to_owned(), 1.04),
                ("system.process.mem.memfree".to_owned(), 24_910_352_384.0),
            ]
        );
    }

    #[test]
    fn java_layout_attributes_become_series() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<status timestamp="2012-06-18 10:14:12.345">
   <runtime start-time="1339985652123" up-time="15000" java-version="1.6.0_33" user-name="cat"/>
   <os name="Linux" arch="amd64" available-processors="4" system-load-average="0.5"/>
   <disk><disk-volume id="/" total="100" free="40" usable="39"/></disk>
   <memory max="900" total="500" free="100"><gc name="ParNew" count="5" time="33"/></memory>
   <thread count="60" daemon-count="40"/>
   <message produced="1000" overflowed="0" bytes="123456"/>
   <extension id="GC"><extensionDetail id="ParNewCount" value="7"/></extension>
</status>"#;
        let series = parse_status(xml).unwrap();
        let get = |name: &str| series.iter().find(|(n, _)| n == name).map(|&(_, v)| v);
        assert_eq!(get("runtime.up-time"), Some(15_000.0));
        assert_eq!(get("runtime.java-version"), None);
        assert_eq!(get("os.version"), None);
        assert_eq!(get("os.available-processors"), Some(4.0));
        assert_eq!(get("disk.disk-volume[/].free"), Some(40.0));
        assert_eq!(get("memory.free"), Some(100.0));
        assert_eq!(get("memory.gc[ParNew].count"), Some(5.0));
        assert_eq!(get("thread.daemon-count"), Some(40.0));
        assert_eq!(get("message.produced"), Some(1000.0));
        assert_eq!(get("GC.ParNewCount"), Some(7.0));
    }

    #[test]
    fn version_attributes_are_not_series() {
        // CAT's own example has `java-version="17"`; a kernel `version="5.10"` read as a
        // number would show as 5.1.
        let xml = r#"<status version="2"><runtime java-version="17" up-time="373"/><os name="Linux" version="5.10" available-processors="4"/><extension id="App" Version="3" queued="7"><extensionDetail id="dropped" value="1"/></extension></status>"#;
        assert_eq!(
            parse_status(xml).unwrap(),
            vec![
                ("runtime.up-time".to_owned(), 373.0),
                ("os.available-processors".to_owned(), 4.0),
                ("App.queued".to_owned(), 7.0),
                ("App.dropped".to_owned(), 1.0),
            ]
        );
    }

    #[test]
    fn numeric_attributes_of_an_extension_are_details_too() {
        let xml = r#"<status><extension id="Queue" size="12" name="orders" rate="0.5"><extensionDetail id="dropped" value="3"/></extension></status>"#;
        assert_eq!(
            parse_status(xml).unwrap(),
            vec![
                ("Queue.size".to_owned(), 12.0),
                ("Queue.rate".to_owned(), 0.5),
                ("Queue.dropped".to_owned(), 3.0),
            ]
        );
    }

    #[test]
    fn malformed_xml_is_rejected() {
        assert_eq!(parse_status("<status><extension id=\"a\"></status>"), None);
        assert_eq!(parse_status("<status><a b=\"1></status>"), None);
        assert_eq!(
            parse_status("<status><a b=\"1\" c=\"2\" b=\"3\"/></status>"),
            None
        );
    }

    /// Every attribute of a very wide element is read, each once.
    #[test]
    fn an_element_of_many_attributes_is_read_whole() {
        let attributes: String = (0..20_000).map(|i| format!(" a{i}=\"{i}\"")).collect();
        let series = parse_status(&format!("<status><memory{attributes}/></status>")).unwrap();
        assert_eq!(series.len(), 20_000);
        assert_eq!(series[19_999], ("memory.a19999".to_owned(), 19_999.0));
    }
}
