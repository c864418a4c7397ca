//! LogView: one stored tree, looked up by message ID.
//!
//! * `GET /m/{id}`: the tree as a page: nesting, a waterfall bar per transaction on a
//!   shared time axis, statuses coloured, data shown (long data folded), links to the
//!   parent, root, callee and continuation trees (and to the whole trace on one page,
//!   `crate::trace`, when it has any), and from each transaction to its row on
//!   the transaction board (under the name the report files it under: renamed and cut as
//!   the analyzer does, and `OTHERS` where the hour's report of the tree's machine shows a
//!   cap folded it; a truncated fragment's root, which no report counts, has none). A tree
//!   of more than [`MAX_TREE_ROWS`] messages shows its first ones and links the raw JSON
//!   for the rest.
//! * `GET /api/message/{id}`: the tree as JSON, as `ocelot lookup` prints it
//!   (`{"format":"NT1","header":..,"root":..}`, [`ocelot_protocol::TreeJson`]).
//! * `GET /cat/r/m/{id}`, `GET /cat/r/m?messageId={id}` and CAT's model form
//!   `GET /cat/r/model/logview/{domain}/{period}?messageId={id}`: CAT's LogView addresses,
//!   redirected so existing links keep working.
//! * `GET /search?id=`: the search box; redirects to `/m/{id}`. A pasted LogView link
//!   (CAT's or ours, any of the forms above) is taken for the ID it names.
//!
//! An ID that does not parse is a 400 and an unknown ID a 404, each with a page (or JSON
//! error) saying which. Lookups run on a blocking thread: the store reads files.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup, PreEscaped, Render};
use ocelot_analyzer::{AnalyzerConfig, TransactionReport, OTHERS};
use ocelot_protocol::{hour_of, Message, MessageId, MessageIdError, MessageTree, TreeJson};
use serde::Deserialize;

use crate::board::{build_url, format_count};
use crate::error::{ApiError, PageError, PageQuery};
use crate::hour::{hour_title, parse_hour_label};
use crate::layout::{page_with_search, PageTitle};
use crate::links::{api_message_url, logview_url, trace_url};
use crate::lookup::{LookupFailed, StoredTree};
use crate::metric_page::kind_name;
use crate::state::AppState;
use crate::time::{format_duration_us, format_utc_ms};

/// Data longer than this (or spanning lines) is folded behind a summary.
const INLINE_DATA_CHARS: usize = 160;
/// How much of folded data the summary shows.
const SUMMARY_DATA_CHARS: usize = 96;
/// Narrowest waterfall bar, in percent of the axis, so a 0 µs transaction stays visible.
const MIN_BAR_PERCENT: f64 = 0.4;
/// The event type CAT clients use to link trees (RPC callee, continuation, detached thread).
const REMOTE_CALL_TYPE: &str = "RemoteCall";
/// Most messages the page draws a row for. A frame may hold a million empty events (16 MiB
/// at most, about 12 bytes each), which drawn whole made a page of over 400 MB; the raw
/// JSON still has every message.
pub(crate) const MAX_TREE_ROWS: usize = 10_000;
/// Most transaction types of one tree whose rows are looked up in the hour's report (see
/// [`FiledRows`]). Each is one type of one machine's report, copied on the collector's
/// analyzer thread for an open hour; a tree of thousands of types links the rest under the
/// names it predicts.
const MAX_TYPES_LOOKED_UP: usize = 32;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/{id}", get(logview_page))
        .route("/api/message/{id}", get(message_json))
        .route("/cat/r/m/{id}", get(cat_logview_redirect))
        .route("/cat/r/m", get(cat_logview_query_redirect))
        .route(
            "/cat/r/model/logview/{domain}/{period}",
            get(cat_logview_query_redirect),
        )
        .route("/search", get(search))
}

/// Why an ID string could not be used, for pages and the API alike.
pub(crate) fn id_problem(err: &MessageIdError) -> String {
    format!(
        "“{}” is not a message ID: the {} {}. Message IDs look like domain-hexip-hour-seq, \
         e.g. shop-0a000001-498703-42.",
        err.id, err.part, err.reason
    )
}

pub(crate) fn path_problem(rejection: &PathRejection) -> String {
    format!(
        "The message ID in the address is not valid: {}",
        rejection.body_text()
    )
}

/// The stored tree of `id`, looked up on a blocking thread (the store reads files).
pub(crate) async fn find_tree(
    state: &AppState,
    id: MessageId,
) -> Result<Option<StoredTree>, LookupFailed> {
    let lookup = state.lookup.clone();
    tokio::task::spawn_blocking(move || lookup.lookup(&id))
        .await
        .map_err(|join| LookupFailed::Task(format!("message lookup task failed: {join}")))?
        .map_err(LookupFailed::Store)
}

async fn logview_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let Path(raw) = path.map_err(|r| PageError::bad_request(path_problem(&r)))?;
    let id: MessageId = raw.parse().map_err(|err| PageError::BadRequest {
        title: "Not a message ID".to_owned(),
        detail: id_problem(&err),
        search: raw.clone(),
    })?;
    match find_tree(&state, id.clone()).await {
        Ok(Some(StoredTree { tree, .. })) => {
            let config = state.reports.analyzer_config();
            let filed = FiledRows::of(&state, &tree, config).await;
            Ok(render_page(&raw, &tree, config, &filed))
        }
        Ok(None) => Err(PageError::NotFound {
            title: "No such message".to_owned(),
            detail: unknown_id_detail(&id, why_missing(&state, &id).await.as_deref()),
            search: raw,
        }),
        Err(failed) => Err(failed.page(raw)),
    }
}

/// What an unknown ID still tells: who made it and when, and why it may be missing (`why`,
/// from [`why_missing`], when the server knows more than the usual suspects).
pub(crate) fn unknown_id_detail(id: &MessageId, why: Option<&str>) -> String {
    let made = format!(
        "No stored tree has the ID {id}. It was made for domain “{}” on {} in the hour \
         starting {}.",
        id.domain,
        id.ip_dotted(),
        format_utc_ms(id.hour_start_ms()),
    );
    match why {
        Some(why) => format!("{made} {why}"),
        None => format!("{made} {USUAL_REASONS}"),
    }
}

/// Why a tree may be missing when the server knows nothing more ([`why_missing`] is
/// `None`).
pub(crate) const USUAL_REASONS: &str = "The tree may not have arrived yet (clients send \
     within seconds), may have been sampled out by the client, or may be older than what is \
     kept.";

/// Why a tree filed under `hour` is missing when that hour is older than `oldest_kept`,
/// the oldest hour kept (`keeper` says by whom: "this server keeps"): retention deleted it.
/// `None` for a later hour. LogView's 404 and `ocelot lookup` say it alike.
///
/// ```
/// let why = ocelot_web::older_than_kept(400_000, 498_703, "this store keeps").unwrap();
/// assert!(why.starts_with("That hour is older than every hour this store keeps"));
/// assert_eq!(ocelot_web::older_than_kept(498_703, 498_703, "this store keeps"), None);
/// ```
pub fn older_than_kept(hour: u64, oldest_kept: u64, keeper: &str) -> Option<String> {
    (hour < oldest_kept).then(|| {
        format!(
            "That hour is older than every hour {keeper} (the oldest is {}): retention \
             deletes old hours, so the tree is gone if it was stored here at all.",
            hour_title(oldest_kept)
        )
    })
}

/// The State report's key for the store's drops (the collector's analyzers have their own).
const STORE_DROPS: &str = "store";
/// Store drops that lose no tree under an ID: a duplicate's ID holds the first tree sent
/// with it, and a tree without an ID is not what an ID is looked up for.
const DROPS_LOSING_NO_ID: [&str; 2] = ["duplicate", "no_message_id"];

/// Why `id`'s tree may be missing, when this server can say: its hour is older than every
/// hour kept (retention deletes old hours), or the collector's State report of its hour
/// counts trees the store dropped. Boards link sample IDs of trees the reports counted, so
/// a tree the store then dropped (its queue full, a failed write) leads here. The State
/// report does not say which domains or hours the dropped trees were of, so this says "may".
pub(crate) async fn why_missing(state: &AppState, id: &MessageId) -> Option<String> {
    if let Some(oldest) = state.reports.hours().await.first() {
        if let Some(why) = older_than_kept(id.hour, *oldest, "this server keeps") {
            return Some(why);
        }
    }
    let mut said = Vec::new();
    if let Some(report) = state.reports.state(id.hour).await {
        said.extend(store_drops_note(&report));
    }
    // A tree that came after its hour closed is dropped, and counted, in the hour it came
    // in: the next one, mostly (one sent too early, in the hour before).
    let mut late = 0u64;
    for hour in [
        id.hour.checked_sub(1),
        Some(id.hour),
        id.hour.checked_add(1),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(report) = state.reports.state(hour).await {
            let view = report.view(&ocelot_analyzer::ViewQuery::default());
            for minute in &view.minutes {
                late = late.saturating_add(minute.out_of_window);
            }
        }
    }
    if late > 0 {
        let (trees, were) = if late == 1 {
            ("tree", "was")
        } else {
            ("trees", "were")
        };
        said.push(format!(
            "{} {trees} of any domain came outside their hour's window (after the hour had \
             closed, or too early) around that hour and {were} dropped (out_of_window): this \
             tree may be one of them.",
            format_count(late)
        ));
    }
    if said.is_empty() {
        return None;
    }
    said.push(
        "It may also not have arrived yet, or have been sampled out by the client.".to_owned(),
    );
    Some(said.join(" "))
}

/// What the store dropped in the State report's hour without storing (reasons that lose a
/// tree under its ID), or `None`.
fn store_drops_note(report: &ocelot_analyzer::StateReport) -> Option<String> {
    let view = report.view(&ocelot_analyzer::ViewQuery::default());
    let mut by_reason: std::collections::BTreeMap<String, u64> = Default::default();
    for minute in &view.minutes {
        let store = minute.drops.get(STORE_DROPS).into_iter().flatten();
        for (reason, &n) in store.filter(|(r, _)| !DROPS_LOSING_NO_ID.contains(&r.as_str())) {
            let sum = by_reason.entry(reason.clone()).or_default();
            *sum = sum.saturating_add(n);
        }
    }
    let dropped = by_reason.values().fold(0u64, |a, &n| a.saturating_add(n));
    if dropped == 0 {
        return None;
    }
    let mut by_reason: Vec<(String, u64)> = by_reason.into_iter().collect();
    by_reason.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let reasons: Vec<String> = (by_reason.iter())
        .map(|(reason, n)| format!("{} {reason}", format_count(*n)))
        .collect();
    let (trees, them) = if dropped == 1 {
        ("tree", "it")
    } else {
        ("trees", "them")
    };
    Some(format!(
        "The collector's State report counts {} {trees} of any domain that the store dropped \
         in that hour without storing {them} ({}): this tree may be one of them.",
        format_count(dropped),
        reasons.join(", "),
    ))
}

async fn message_json(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) = path.map_err(|r| ApiError::BadRequest(path_problem(&r)))?;
    let id: MessageId = raw
        .parse()
        .map_err(|err| ApiError::BadRequest(id_problem(&err)))?;
    match find_tree(&state, id.clone()).await {
        Ok(Some(StoredTree { format, tree })) => Ok(Json(TreeJson {
            format,
            tree: &tree,
        })
        .into_response()),
        Ok(None) => Err(ApiError::UnknownId(match why_missing(&state, &id).await {
            Some(why) => format!("no stored tree has the ID {raw}. {why}"),
            None => format!("no stored tree has the ID {raw}"),
        })),
        Err(failed) => Err(failed.api(&raw)),
    }
}

async fn cat_logview_redirect(
    path: Result<Path<String>, PathRejection>,
) -> Result<Redirect, PageError> {
    let Path(raw) = path.map_err(|r| PageError::bad_request(path_problem(&r)))?;
    Ok(Redirect::permanent(&logview_url(&raw)))
}

/// The query of CAT's LogView addresses that name the message in a parameter.
#[derive(Debug, Deserialize)]
struct CatLogViewQuery {
    #[serde(rename = "messageId")]
    message_id: Option<String>,
}

/// `/cat/r/m?messageId=` and `/cat/r/model/logview/{domain}/{period}?messageId=`: the
/// message is in the query (the model form's domain and period only say where CAT looked).
async fn cat_logview_query_redirect(
    PageQuery(query): PageQuery<CatLogViewQuery>,
) -> Result<Redirect, PageError> {
    let raw = query
        .message_id
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    if raw.is_empty() {
        return Err(PageError::BadRequest {
            title: "No message ID in this link".to_owned(),
            detail: "A CAT LogView link names its message as messageId=, e.g. \
                     /cat/r/m?messageId=shop-0a000001-498703-42; this one has none."
                .to_owned(),
            search: String::new(),
        });
    }
    raw.parse::<MessageId>()
        .map_err(|err| PageError::BadRequest {
            title: "Not a message ID".to_owned(),
            detail: id_problem(&err),
            search: raw.to_owned(),
        })?;
    Ok(Redirect::permanent(&logview_url(raw)))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    id: String,
}

async fn search(PageQuery(query): PageQuery<SearchQuery>) -> Response {
    let raw = query.id.trim();
    if raw.is_empty() {
        return PageError::BadRequest {
            title: "Nothing to search for".to_owned(),
            detail: "Type or paste a message ID into the search box, e.g. \
                     shop-0a000001-498703-42."
                .to_owned(),
            search: String::new(),
        }
        .into_response();
    }
    // A link is read for the ID it names, never parsed whole as one (see `is_link_shaped`).
    let linked = match is_link_shaped(raw).then(|| id_in_link(raw)) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => {
            return PageError::BadRequest {
                title: "No message ID in this link".to_owned(),
                detail: "This looks like a link, but it names no message: a LogView link \
                         ends in the message ID (/m/shop-0a000001-498703-42, CAT's \
                         /cat/r/m/shop-0a000001-498703-42) or gives it as messageId=."
                    .to_owned(),
                search: raw.to_owned(),
            }
            .into_response()
        }
    };
    let raw = linked.as_deref().unwrap_or(raw);
    match raw.parse::<MessageId>() {
        Ok(_) => Redirect::to(&logview_url(raw)).into_response(),
        Err(err) => PageError::BadRequest {
            title: "Not a message ID".to_owned(),
            detail: id_problem(&err),
            search: raw.to_owned(),
        }
        .into_response(),
    }
}

/// Whether pasted text is a link (or a link's path) rather than a message ID.
///
/// Checked before the text is parsed as an ID, because a whole link parses as one: IDs are
/// parsed from the right and a domain may hold `/`, `:`, `?` and `=`, so the link would
/// become the domain. A domain with `/` cannot be stored (the store refuses it as a folder
/// name), so reading such text as a link loses no tree; text with `/` that is not
/// link-shaped (`a/b-7f000001-1-2`) is still tried as an ID.
fn is_link_shaped(text: &str) -> bool {
    text.contains("://")
        || text.starts_with('/')
        || text.contains("/m/")
        || text.contains("messageId=")
}

/// The message ID a pasted LogView link names: at the end of its path (CAT's
/// `http://cat/cat/r/m/{id}?domain=..`, ours `http://ocelot:8080/m/{id}`), else in its
/// `messageId=` parameter (CAT's `/cat/r/m?messageId={id}` and
/// `/cat/r/model/logview/{domain}/{period}?messageId={id}`). `None` when neither holds an
/// ID.
fn id_in_link(text: &str) -> Option<String> {
    let text = text.split('#').next().unwrap_or_default();
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let from_path = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(percent_decode);
    let from_query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| *key == "messageId")
        // A query value is form-encoded: `+` is a space.
        .filter_map(|(_, value)| percent_decode(&value.replace('+', " ")));
    from_path
        .into_iter()
        .chain(from_query)
        .find(|candidate| candidate.parse::<MessageId>().is_ok())
}

/// `%XX` escapes decoded (links percent-encode a domain's unusual characters); `None` when
/// an escape is malformed or the bytes are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail
                .get(..2)
                .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The time axis shared by every row: from the earliest start to the latest end, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeAxis {
    start_us: u64,
    span_us: u64,
}

impl TimeAxis {
    pub(crate) fn of(root: &Message) -> Self {
        let mut start_us = u64::MAX;
        let mut end_us = 0;
        root.walk(|message, _| {
            let begin = message.timestamp_ms().saturating_mul(1000);
            let duration = message.as_transaction().map_or(0, |t| t.duration_us);
            start_us = start_us.min(begin);
            end_us = end_us.max(begin.saturating_add(duration));
        });
        TimeAxis {
            start_us,
            span_us: end_us.saturating_sub(start_us).max(1),
        }
    }

    /// Offset of `timestamp_ms` from the axis start, in µs.
    fn offset_us(&self, timestamp_ms: u64) -> u64 {
        timestamp_ms
            .saturating_mul(1000)
            .saturating_sub(self.start_us)
    }

    /// Labels at 0, 25, 50, 75 and 100 % of the axis, skipping ones that would repeat the
    /// previous label (a 2 µs tree would otherwise read `0 0 1 µs 1 µs 2 µs`).
    pub(crate) fn labels(&self) -> Vec<(u64, String)> {
        let mut labels: Vec<(u64, String)> = Vec::new();
        for quarter in 0..=4u64 {
            // In u128: a span near `u64::MAX` µs (a client's duration) times 4 overflows.
            let us = u128::from(self.span_us) * u128::from(quarter) / 4;
            let label = format_duration_us(u64::try_from(us).unwrap_or(u64::MAX));
            if labels.last().is_none_or(|(_, previous)| *previous != label) {
                labels.push((quarter * 25, label));
            }
        }
        labels
    }

    fn percent(&self, us: u64) -> f64 {
        (us as f64 / self.span_us as f64 * 100.0).min(100.0)
    }

    /// The axis covering every one of `axes`, from the earliest start to the latest end:
    /// the trace page draws several trees on one. `None` for no axes.
    pub(crate) fn covering(axes: impl IntoIterator<Item = TimeAxis>) -> Option<TimeAxis> {
        let mut axes = axes.into_iter();
        let first = axes.next()?;
        let end = |a: &TimeAxis| a.start_us.saturating_add(a.span_us);
        let (start_us, end_us) = axes.fold((first.start_us, end(&first)), |(s, e), a| {
            (s.min(a.start_us), e.max(end(&a)))
        });
        Some(TimeAxis {
            start_us,
            span_us: end_us.saturating_sub(start_us).max(1),
        })
    }

    /// How long the axis is, in µs.
    pub(crate) fn span_us(&self) -> u64 {
        self.span_us
    }
}

/// What a `RemoteCall` event links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoteLinkKind {
    /// The tree of the service called (an RPC).
    Callee,
    /// The next part of a tree the client split (`RemoteCall/Next`).
    Continuation,
    /// A thread the transaction started and did not wait for (`RemoteCall/RunAway`).
    DetachedThread,
}

impl RemoteLinkKind {
    /// The words on the link.
    pub(crate) fn label(self) -> &'static str {
        match self {
            RemoteLinkKind::Callee => "callee",
            RemoteLinkKind::Continuation => "continued in",
            RemoteLinkKind::DetachedThread => "detached thread",
        }
    }

    /// Its name in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RemoteLinkKind::Callee => "callee",
            RemoteLinkKind::Continuation => "continuation",
            RemoteLinkKind::DetachedThread => "detachedThread",
        }
    }
}

/// A linked tree found in a `RemoteCall` event: what it is and its ID.
pub(crate) fn remote_link(message: &Message) -> Option<(RemoteLinkKind, &str)> {
    let Message::Event(leaf) = message else {
        return None;
    };
    if leaf.type_ != REMOTE_CALL_TYPE {
        return None;
    }
    // Detached threads write `<childId>=System:ChildThread`; the rest just the ID.
    let id = leaf.data.split('=').next().unwrap_or_default().trim();
    id.parse::<MessageId>().ok()?;
    let kind = match leaf.name.as_str() {
        "Next" => RemoteLinkKind::Continuation,
        "RunAway" => RemoteLinkKind::DetachedThread,
        _ => RemoteLinkKind::Callee,
    };
    Some((kind, id))
}

/// Whether a status should be coloured as a failure: only transactions and events have
/// success/failure statuses; a metric's status is its kind, a heartbeat's often empty.
pub(crate) fn is_failure(message: &Message) -> bool {
    matches!(message, Message::Transaction(_) | Message::Event(_)) && !message.is_success()
}

fn kind_letter(message: &Message) -> &'static str {
    match message {
        Message::Transaction(_) => "T",
        Message::Event(_) => "E",
        Message::Heartbeat(_) => "H",
        Message::Metric(_) => "M",
        Message::Trace(_) => "L",
    }
}

fn render_page(
    raw_id: &str,
    tree: &MessageTree,
    config: &AnalyzerConfig,
    filed: &FiledRows,
) -> Markup {
    let root = &tree.root;
    // The ID too: tabs of two trees of one endpoint tell apart.
    let mut title = PageTitle::plain(&format!("{} {} · {raw_id}", root.type_(), root.name()));
    // The nav opens the tree's domain at its hour: "Heartbeats" from a tree of
    // payment-service opened the first domain's, of the current hour.
    if let Some(board) = BoardLinks::of(tree, config).filter(|b| b.hour_label.is_some()) {
        title.shows.domain = board.domain.to_owned();
        title.shows.hour = Some(board.hour);
    }
    page_with_search(&title, "", raw_id, render_tree(raw_id, tree, config, filed))
}

/// The page body for one tree (public to the crate for snapshot-style tests). `config` is
/// what the reports were counted under: the board links cut names as its analyzers do;
/// `filed` says which of them a cap folded into `OTHERS`.
pub(crate) fn render_tree(
    raw_id: &str,
    tree: &MessageTree,
    config: &AnalyzerConfig,
    filed: &FiledRows,
) -> Markup {
    let header = &tree.header;
    let root = &tree.root;
    let axis = TimeAxis::of(root);
    let failed = is_failure(root);
    let board = BoardLinks::of(tree, config);
    let fragment = is_truncated_fragment(root);
    let mut rows = rows(root);
    let message_count = rows.len();
    // Linked to other trees: the trace page shows them together.
    let in_trace = header.parent_id().is_some()
        || header.root_id().is_some()
        || rows
            .iter()
            .any(|(message, _)| remote_link(message).is_some());
    rows.truncate(MAX_TREE_ROWS);
    let row_keys: Vec<Option<RowKey<'_>>> = report_keys(&rows, fragment, config)
        .into_iter()
        .map(|key| key.map(|key| filed.resolve(key)))
        .collect();
    html! {
        section.tree-summary {
            div.summary-title {
                span.kind title=(root.kind().as_str()) { (kind_letter(root)) }
                h1 {
                    span.type { (root.type_()) }
                    " "
                    span.name { (root.name()) }
                }
                (status_badge(root))
                @if let Some(t) = root.as_transaction() {
                    span.duration-big { (format_duration_us(t.duration_us)) }
                }
            }
            dl.facts {
                div { dt { "Message ID" } dd { code { (raw_id) } } }
                div { dt { "Domain" } dd { (header.domain) } }
                div { dt { "Host" } dd {
                    (header.hostname) " "
                    @match board.as_ref().and_then(|b| Some((b.hour, b.machine_urls(&header.ip_address)?))) {
                        Some((hour, (heartbeat, transactions))) => {
                            a.machine-link href=(heartbeat) title={ "Heartbeats of this machine, hour of " (hour_title(hour)) } {
                                (header.ip_address)
                            }
                            " "
                            a.msg-link href=(transactions) title="Transactions of this machine in the hour" { "transactions" }
                        }
                        None => span.muted { (header.ip_address) },
                    }
                } }
                div { dt { "Thread" } dd {
                    (header.thread_name)
                    @if !header.thread_id.is_empty() { " " span.muted { "#" (header.thread_id) } }
                } }
                div { dt { "Started" } dd { (format_utc_ms(root.timestamp_ms())) } }
                div { dt { "Messages" } dd { (tree.message_count()) } }
                div { dt { "Parent" } dd { (id_link(header.parent_id(), "parent-link")) } }
                div { dt { "Root" } dd { (id_link(header.root_id(), "root-link")) } }
                @if let (Some(board), Some(Some(key))) = (&board, row_keys.first()) {
                    @match board.url(key) {
                        Some(url) => div { dt { "Board row" } dd {
                            a.board-link href=(url)
                                title={ "Transaction board, hour of " (hour_title(board.hour)) } {
                                (key.type_) " " (key.name)
                            }
                            @if let Some(url) = board.machine_url(key, &header.ip_address) {
                                " " a.msg-link href=(url) title="The same row, of this machine only" { "this machine" }
                            }
                            @if key.folded {
                                " " span.muted { "(counted there: a cap was reached when it arrived)" }
                            }
                        } },
                        None => div { dt { "Board row" } dd.muted {
                            "none: its root is dated in the hour of " (hour_title(board.hour))
                            ", and the boards show hours up to the year 9999"
                        } },
                    }
                } @else if board.is_some() && fragment {
                    div { dt { "Board row" } dd.muted {
                        "not counted: a fragment of a longer tree (it ends in RemoteCall/Next)"
                    } }
                }
            }
            p.tree-actions {
                a href=(api_message_url(raw_id)) { "Raw JSON" }
                @if in_trace {
                    a.trace-link href=(trace_url(raw_id))
                        title="This tree with its parent, root and callee trees on one waterfall" {
                        "Whole trace"
                    }
                }
                @if failed { span.badge.fail { "This request failed" } }
            }
        }
        section.waterfall aria-label="Message tree" {
            table.tree {
                (waterfall_head(&axis))
                tbody {
                    @for ((message, depth), key) in rows.iter().zip(&row_keys) {
                        @let board_url = board.as_ref().zip(key.as_ref()).and_then(|(b, k)| b.url(k));
                        @let folded = key.as_ref().is_some_and(|k| k.folded);
                        (render_row(message, *depth, &axis, board_url.as_deref(), folded))
                    }
                }
            }
            @if rows.len() < message_count {
                p.hint.left-out {
                    "The first " (format_count(rows.len() as u64)) " of "
                    (format_count(message_count as u64)) " messages; "
                    a href=(api_message_url(raw_id)) { "the raw JSON" } " has every one."
                }
            }
        }
    }
}

/// The head of a waterfall table (LogView's and the trace's): the columns and the time
/// axis' labels.
pub(crate) fn waterfall_head(axis: &TimeAxis) -> Markup {
    html! {
        thead {
            tr {
                th.col-message { "Message" }
                th.col-status { "Status" }
                th.col-start { "Start" }
                th.col-duration { "Duration" }
                th.col-timeline {
                    div.axis {
                        @for (percent, label) in axis.labels() {
                            span style={ "left:" (percent) "%" } { (label) }
                        }
                    }
                }
            }
        }
    }
}

/// Every message of the tree under `root` with its depth, in the order the page draws them.
pub(crate) fn rows(root: &Message) -> Vec<(&Message, usize)> {
    let mut rows = Vec::new();
    root.walk(|message, depth| rows.push((message, depth)));
    rows
}

fn id_link(id: Option<&str>, class: &str) -> Markup {
    html! {
        @match id {
            Some(id) => a class=(class) href=(logview_url(id)) { code { (id) } },
            None => span.muted { "none" },
        }
    }
}

/// A metric's status is its kind (cat-design 1.8), not a success or a failure: it is shown
/// as what it means (`kind: count` for `C`), the status text in the tooltip.
fn status_badge(message: &Message) -> Markup {
    let status = message.status();
    html! {
        @if let (Message::Metric(_), false) = (message, status.is_empty()) {
            span.badge.neutral.metric-kind title={ "Metric kind (status “" (status) "”)" } {
                "kind: " (kind_name(status).unwrap_or(status))
            }
        } @else if is_failure(message) {
            span.badge.fail title="failure" { @if status.is_empty() { "(empty)" } @else { (status) } }
        } @else if message.is_success() {
            span.badge.ok title="success" { "OK" }
        } @else if !status.is_empty() {
            span.badge.neutral { (status) }
        }
    }
}

/// `board_url`: the row's entry on the transaction board, for transactions; `folded`:
/// whether that is an `OTHERS` row a cap folded the transaction into.
pub(crate) fn render_row(
    message: &Message,
    depth: usize,
    axis: &TimeAxis,
    board_url: Option<&str>,
    folded: bool,
) -> Markup {
    let offset_us = axis.offset_us(message.timestamp_ms());
    let left = axis.percent(offset_us);
    let failed = is_failure(message);
    let kind = message.kind().as_str();
    let data = message.data();
    html! {
        tr class={ "row " (kind) @if failed { " failed" } } {
            td.col-message style={ "--depth:" (depth) } {
                span.kind title=(kind) { (kind_letter(message)) }
                @if let Some(url) = board_url {
                    a.board-link href=(url) title=(if folded {
                        "Counted under OTHERS on the transaction board: a cap (of names, \
                         types or machines) was reached when it arrived"
                    } else {
                        "This name on the transaction board"
                    }) {
                        (type_and_name(message))
                    }
                } @else {
                    (type_and_name(message))
                }
                @if let Some((kind, id)) = remote_link(message) {
                    " "
                    a.remote-link href=(logview_url(id)) { (kind.label()) " →" }
                }
                @if !data.is_empty() {
                    (render_data(data))
                }
            }
            td.col-status { (status_badge(message)) }
            td.col-start { (format_offset(offset_us)) }
            td.col-duration {
                @if let Some(t) = message.as_transaction() { (format_duration_us(t.duration_us)) }
            }
            td.col-timeline {
                div.track {
                    @if let Some(t) = message.as_transaction() {
                        @let width = axis.percent(t.duration_us).max(MIN_BAR_PERCENT).min(100.0 - left);
                        div.bar style=(PreEscaped(format!("left:{left:.3}%;width:{width:.3}%")))
                            title={ (message.type_()) " " (message.name()) ": " (format_duration_us(t.duration_us)) } {}
                    } @else {
                        div.marker style=(PreEscaped(format!("left:{left:.3}%")))
                            title={ (message.type_()) " " (message.name()) } {}
                    }
                }
            }
        }
    }
}

fn type_and_name(message: &Message) -> Markup {
    html! {
        span.type { (Breakable(message.type_())) }
        @if !message.type_().is_empty() && !message.name().is_empty() {
            span.sep { " / " }
        }
        span.name { (Breakable(message.name())) }
    }
}

/// Text that a narrow screen may break after `.`, `/`, `-`, `_` or `:` (`<wbr>`), so
/// `OrderService.create` wraps as `OrderService.` and `create`, not mid-word.
struct Breakable<'a>(&'a str);

impl Render for Breakable<'_> {
    fn render_to(&self, out: &mut String) {
        let mut rest = self.0;
        while let Some(at) = rest.find(['.', '/', '-', '_', ':']) {
            let (piece, tail) = rest.split_at(at + 1);
            piece.render_to(out);
            if !tail.is_empty() {
                out.push_str("<wbr>");
            }
            rest = tail;
        }
        rest.render_to(out);
    }
}

/// A start offset. Message timestamps are whole milliseconds, so offsets are too: `+42 ms`,
/// not `+42.0 ms`, which would claim a precision the tree does not have.
fn format_offset(offset_us: u64) -> String {
    let ms = offset_us / 1000;
    match ms {
        0 => "+0".to_owned(),
        1..=999 => format!("+{ms} ms"),
        _ => format!("+{}", format_duration_us(ms * 1000)),
    }
}

/// Where a tree's transactions are counted: the transaction board of its domain, in the hour
/// of its root (the hour the collector files the tree under).
struct BoardLinks<'a> {
    domain: &'a str,
    hour: u64,
    /// The board's `hour=`; `None` past the year 9999 (see [`BoardLinks::url`]).
    hour_label: Option<String>,
}

impl<'a> BoardLinks<'a> {
    /// `None` for a tree without a domain, or whose root is not a transaction (no report
    /// counts its messages).
    fn of(tree: &'a MessageTree, config: &'a AnalyzerConfig) -> Option<Self> {
        if tree.header.domain.is_empty() || tree.root.as_transaction().is_none() {
            return None;
        }
        let hour = hour_of(tree.root.timestamp_ms());
        let hour_label = ocelot_analyzer::hour_label(hour);
        Some(BoardLinks {
            domain: config.domain_key(&tree.header.domain),
            hour,
            hour_label: (parse_hour_label(&hour_label) == Some(hour)).then_some(hour_label),
        })
    }

    /// `/t?domain=..&hour=..&type=..&name=..` of a row's key (from [`report_keys`], cut as
    /// the report cuts it). `None` for an hour past the year 9999: the root's timestamp is
    /// the client's, and a board's `hour=` is `YYYYMMDDHH`, so the link would be a 400 (no
    /// collector counts such an hour anyway).
    fn url(&self, key: &RowKey<'_>) -> Option<String> {
        let hour = self.hour_label.as_deref()?;
        Some(build_url(
            "/t",
            &[
                ("domain", self.domain),
                ("hour", hour),
                ("type", &key.type_),
                ("name", &key.name),
            ],
        ))
    }
}

impl BoardLinks<'_> {
    /// [`BoardLinks::url`] of the tree's machine `ip` only. `None` as there, or without an
    /// IP.
    fn machine_url(&self, key: &RowKey<'_>, ip: &str) -> Option<String> {
        let hour = self.hour_label.as_deref().filter(|_| !ip.is_empty())?;
        Some(build_url(
            "/t",
            &[
                ("domain", self.domain),
                ("hour", hour),
                ("ip", ip),
                ("type", &key.type_),
                ("name", &key.name),
            ],
        ))
    }

    /// The heartbeats and the transaction board of the machine `ip` in the tree's hour.
    fn machine_urls(&self, ip: &str) -> Option<(String, String)> {
        let hour = self.hour_label.as_deref().filter(|_| !ip.is_empty())?;
        let params = [("domain", self.domain), ("hour", hour), ("ip", ip)];
        Some((build_url("/h", &params), build_url("/t", &params)))
    }
}

/// The type and name a transaction is counted under in the transaction report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowKey<'a> {
    type_: Cow<'a, str>,
    name: Cow<'a, str>,
    /// Whether a cap folded the type or the name into `OTHERS` ([`FiledRows::resolve`]).
    folded: bool,
}

/// What the hour's transaction report holds of the tree's machine, for the tree's types:
/// which of its transactions a cap folded into `OTHERS`. The caps count per machine, type
/// and hour in arrival order (200 names a type by default), so the tree alone cannot tell
/// whether its 250th name made it. Empty when the report does not have the tree's machine
/// (the tree not counted yet, no report source): links then use the names the tree gives,
/// renamed and cut as the analyzer does, which is right unless a cap was reached.
#[derive(Debug, Default)]
pub(crate) struct FiledRows {
    /// The machine the tree was counted under: its IP, or `OTHERS` if the machines folded.
    machine: String,
    /// Per type key looked up, a report holding that type's part of the machine's entries
    /// ([`crate::ReportSource::transaction_for`]); `OTHERS` too when a type is missing.
    reports: HashMap<String, Arc<TransactionReport>>,
}

impl FiledRows {
    /// Looks up the rows of `tree`'s transaction types (at most [`MAX_TYPES_LOOKED_UP`]) in
    /// the report of its domain, hour and machine.
    async fn of(state: &AppState, tree: &MessageTree, config: &AnalyzerConfig) -> FiledRows {
        let mut filed = FiledRows::default();
        let Some(board) = BoardLinks::of(tree, config).filter(|b| b.hour_label.is_some()) else {
            return filed;
        };
        let mut rows = rows(&tree.root);
        rows.truncate(MAX_TREE_ROWS);
        let mut types: Vec<String> = Vec::new();
        for key in report_keys(&rows, is_truncated_fragment(&tree.root), config)
            .into_iter()
            .flatten()
        {
            if types.len() == MAX_TYPES_LOOKED_UP {
                break;
            }
            if !types.iter().any(|t| *t == key.type_) {
                types.push(key.type_.into_owned());
            }
        }
        let fetch = |machine: &str, type_: &str| {
            state.reports.transaction_for(
                board.domain.to_owned(),
                board.hour,
                Some(machine.to_owned()),
                Some(type_.to_owned()),
            )
        };
        let Some(first) = types.first() else {
            return filed;
        };
        // The machine is cut as names are; past the machines cap it is `OTHERS`.
        let ip = config.name_key(&tree.header.ip_address);
        let Some(report) = fetch(ip, first).await else {
            return filed;
        };
        let report = if report.ips().any(|known| known == ip) {
            filed.machine = ip.to_owned();
            report
        } else if report.ips().any(|known| known == OTHERS) {
            filed.machine = OTHERS.to_owned();
            match fetch(OTHERS, first).await {
                Some(report) => report,
                None => return FiledRows::default(),
            }
        } else {
            return filed;
        };
        filed.reports.insert(first.clone(), report);
        for type_ in &types[1..] {
            if let Some(report) = fetch(&filed.machine, type_).await {
                filed.reports.insert(type_.clone(), report);
            }
        }
        // A type missing from the machine was folded, if the machine has an `OTHERS` type.
        let type_missing = (filed.reports.iter()).any(|(t, r)| !r.has_type(&filed.machine, t));
        if type_missing && !filed.reports.contains_key(OTHERS) {
            if let Some(report) = fetch(&filed.machine, OTHERS).await {
                filed.reports.insert(OTHERS.to_owned(), report);
            }
        }
        filed
    }

    /// The row `key` (as the tree names it) is counted under: `OTHERS` for its type or its
    /// name when the machine does not have them but has an `OTHERS` entry where they would
    /// be (the cap was reached, so they folded). Unchanged when its type was not looked up.
    fn resolve<'a>(&self, key: RowKey<'a>) -> RowKey<'a> {
        let machine = self.machine.as_str();
        let Some(report) = self.reports.get(&*key.type_) else {
            return key;
        };
        let (report, type_, folded_type) = if report.has_type(machine, &key.type_) {
            (report, key.type_, false)
        } else {
            match self.reports.get(OTHERS) {
                Some(others) if others.has_type(machine, OTHERS) => {
                    (others, Cow::Borrowed(OTHERS), true)
                }
                _ => return key,
            }
        };
        let folded_name = !report.has_name(machine, &type_, &key.name)
            && report.has_name(machine, &type_, OTHERS);
        RowKey {
            name: if folded_name {
                Cow::Borrowed(OTHERS)
            } else {
                key.name
            },
            type_,
            folded: folded_type || folded_name,
        }
    }
}

/// Whether `root` is a truncated fragment: a transaction whose last child is the event
/// `RemoteCall/Next` (the client split a long tree and this part continues in the next).
/// The analyzer counts its children but not the root, whose duration covers only part of
/// the work (cat-design 1.4; `ocelot_analyzer`'s transaction walk applies the same rule).
fn is_truncated_fragment(root: &Message) -> bool {
    let last = root.as_transaction().and_then(|t| t.children.last());
    matches!(last, Some(Message::Event(e)) if e.type_ == REMOTE_CALL_TYPE && e.name == "Next")
}

/// The type and name each row's transaction has in the transaction report, as the analyzer
/// renames ([`ocelot_analyzer::ReportNames`]) and cuts ([`AnalyzerConfig::name_key`]) them
/// (the caps, which depend on what else arrived, are [`FiledRows`]'); `None` for other
/// messages, and for the root of a truncated fragment (`fragment`), which is not counted.
fn report_keys<'a>(
    rows: &[(&'a Message, usize)],
    fragment: bool,
    config: &AnalyzerConfig,
) -> Vec<Option<RowKey<'a>>> {
    let mut names = ocelot_analyzer::ReportNames::default();
    rows.iter()
        .enumerate()
        .map(|(i, (message, _))| {
            let t = message.as_transaction()?;
            // Asked for the root too: it is the first URL transaction the analyzer renames.
            let name = names.name(&t.type_, &t.name);
            if i == 0 && fragment {
                return None;
            }
            let name = match name {
                Cow::Borrowed(name) => Cow::Borrowed(config.name_key(name)),
                Cow::Owned(name) => Cow::Owned(config.name_key(&name).to_owned()),
            };
            Some(RowKey {
                type_: Cow::Borrowed(config.name_key(&t.type_)),
                name,
                folded: false,
            })
        })
        .collect()
}

fn render_data(data: &str) -> Markup {
    let long = data.chars().count() > INLINE_DATA_CHARS || data.contains('\n');
    html! {
        @if long {
            details.data {
                summary {
                    (data.chars().take(SUMMARY_DATA_CHARS).collect::<String>().replace('\n', " "))
                    "… "
                    span.muted { "(" (data.len()) " bytes)" }
                }
                pre { (data) }
            }
        } @else {
            div.data { code { (data) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{Header, Leaf, Transaction};

    fn tree(root: Message) -> MessageTree {
        MessageTree::new(
            Header {
                message_id: "shop-7f000001-498703-1".to_owned(),
                ..Header::default()
            },
            root,
        )
    }

    #[test]
    fn time_axis_spans_from_first_start_to_last_end() {
        let mut root = Transaction::new("URL", "/", 1_000);
        root.duration_us = 50_000;
        let mut child = Transaction::new("SQL", "q", 1_040);
        child.duration_us = 30_000; // ends after the root
        root.children.push(Message::Transaction(child));
        let axis = TimeAxis::of(&Message::Transaction(root));
        assert_eq!(
            axis,
            TimeAxis {
                start_us: 1_000_000,
                span_us: 70_000
            }
        );
    }

    /// The trace page's axis: trees of other machines may start before the root (a clock
    /// behind) or end after it; the axis takes them all in.
    #[test]
    fn an_axis_covering_several_trees_runs_from_the_first_start_to_the_last_end() {
        let axis = |start_us, span_us| TimeAxis { start_us, span_us };
        assert_eq!(
            TimeAxis::covering([axis(1_000, 50), axis(900, 20), axis(1_010, 100)]),
            Some(axis(900, 210))
        );
        assert_eq!(TimeAxis::covering([]), None);
    }

    #[test]
    fn time_axis_labels_quarters_without_repeating_themselves() {
        let axis = TimeAxis {
            start_us: 0,
            span_us: 842_000,
        };
        let labels: Vec<String> = axis.labels().into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["0", "210 ms", "421 ms", "631 ms", "842 ms"]);
        let tiny = TimeAxis {
            start_us: 0,
            span_us: 1,
        };
        assert_eq!(
            tiny.labels(),
            [(0, "0".to_owned()), (100, "1 µs".to_owned())]
        );
    }

    /// Durations are client data, up to `u64::MAX` µs: the quarters of such an axis are
    /// still its quarters.
    #[test]
    fn time_axis_labels_of_a_huge_duration_are_its_quarters() {
        let mut root = Transaction::new("URL", "/", 1_000);
        root.duration_us = u64::MAX;
        let axis = TimeAxis::of(&Message::Transaction(root.clone()));
        // Labels are whole minutes at this size: the µs a quarter rounds off do not show.
        let quarter = axis.span_us / 4;
        let quarters: Vec<(u64, String)> = (0..=4u64)
            .map(|q| (q * 25, format_duration_us(quarter * q)))
            .collect();
        assert_eq!(axis.labels(), quarters);
        let html = render_tree(
            "shop-7f000001-498703-1",
            &tree(Message::Transaction(root)),
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string();
        assert!(html.contains(&quarters[4].1), "{html}");
    }

    #[test]
    fn remote_call_events_link_to_callee_continuation_and_detached_trees() {
        let call = Message::Event(Leaf::new(
            "RemoteCall",
            "OrderService.query",
            "0",
            1,
            "order-service-c0000202-498703-1",
        ));
        assert_eq!(
            remote_link(&call),
            Some((RemoteLinkKind::Callee, "order-service-c0000202-498703-1"))
        );
        let next = Message::Event(Leaf::new("RemoteCall", "Next", "0", 1, "a-7f000001-1-2"));
        assert_eq!(
            remote_link(&next),
            Some((RemoteLinkKind::Continuation, "a-7f000001-1-2"))
        );
        let runaway = Message::Event(Leaf::new(
            "RemoteCall",
            "RunAway",
            "0",
            1,
            "a-7f000001-1-3=System:ChildThread",
        ));
        assert_eq!(
            remote_link(&runaway),
            Some((RemoteLinkKind::DetachedThread, "a-7f000001-1-3"))
        );
        let junk = Message::Event(Leaf::new("RemoteCall", "x", "0", 1, "not an id"));
        assert_eq!(remote_link(&junk), None);
    }

    #[test]
    fn failed_transactions_get_a_failure_badge_and_metrics_do_not() {
        let mut root = Transaction::new("Service", "pay", 1);
        root.status = "ERROR".to_owned();
        root.children
            .push(Message::Metric(Leaf::new("", "order.count", "C", 1, "5")));
        let html = render_tree(
            "shop-7f000001-498703-1",
            &tree(Message::Transaction(root)),
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string();
        assert!(html.contains(r#"<span class="badge fail" title="failure">ERROR</span>"#));
        assert!(
            html.contains(r#"title="Metric kind (status “C”)">kind: count</span>"#),
            "{html}"
        );
        assert!(html.contains(r#"class="row transaction failed""#));
    }

    #[test]
    fn pasted_logview_links_give_their_message_id() {
        let id = "gateway-0a000101-499037-7";
        for link in [
            "http://cat.example/cat/r/m/gateway-0a000101-499037-7",
            "https://cat.example/cat/r/m/gateway-0a000101-499037-7?domain=gateway#top",
            "http://127.0.0.1:8080/m/gateway-0a000101-499037-7/",
            "/m/gateway-0a000101-499037-7",
            "/cat/r/m/gateway-0a000101-499037-7",
            "ocelot.internal:8080/m/gateway-0a000101-499037-7",
        ] {
            assert_eq!(id_in_link(link).as_deref(), Some(id), "{link}");
        }
        assert_eq!(
            id_in_link("/m/a%2Fb%20c-7f000001-1-2").as_deref(),
            Some("a/b c-7f000001-1-2"),
            "our links percent-encode unusual domains"
        );
    }

    #[test]
    fn cat_links_that_give_the_id_as_a_parameter_give_their_message_id() {
        let id = "gateway-0a000101-499037-7";
        for link in [
            "http://cat.example:8080/cat/r/m?messageId=gateway-0a000101-499037-7",
            "http://cat.example/cat/r/m?domain=gateway&messageId=gateway-0a000101-499037-7#x",
            "/cat/r/model/logview/gateway/CURRENT?op=xml&messageId=gateway-0a000101-499037-7",
            "cat.example/cat/r/m?messageId=gateway-0a000101-499037-7&waterfall=true",
        ] {
            assert!(is_link_shaped(link), "{link}");
            assert_eq!(id_in_link(link).as_deref(), Some(id), "{link}");
        }
        assert_eq!(
            id_in_link("/cat/r/m?messageId=a%2Fb+c-7f000001-1-2").as_deref(),
            Some("a/b c-7f000001-1-2"),
            "query values are form-encoded"
        );
    }

    #[test]
    fn text_that_is_not_link_shaped_is_left_to_the_id_parser() {
        assert!(!is_link_shaped("gateway-0a000101-499037-7"));
        assert!(!is_link_shaped("a/b?c-7f000001-1-2"));
        assert!(is_link_shaped("http://cat.example/cat/r/home"));
        assert_eq!(id_in_link("http://cat.example/cat/r/home"), None);
        assert_eq!(id_in_link("/m/x%zz-7f000001-1-2"), None, "a broken escape");
        assert_eq!(id_in_link("/cat/r/m?messageId=nope"), None);
        assert_eq!(id_in_link("/cat/r/m?messageId=a%zz-7f000001-1-2"), None);
    }

    #[test]
    fn names_may_break_after_separators_and_stay_escaped() {
        let html = |text| Breakable(text).render().into_string();
        assert_eq!(html("OrderService.create"), "OrderService.<wbr>create");
        assert_eq!(html("/api/<x>"), "/<wbr>api/<wbr>&lt;x&gt;");
        assert_eq!(html("plain"), "plain");
        assert_eq!(html("end."), "end.");
    }

    #[test]
    fn start_offsets_are_whole_milliseconds() {
        assert_eq!(format_offset(0), "+0");
        assert_eq!(format_offset(42_000), "+42 ms");
        assert_eq!(format_offset(999_000), "+999 ms");
        assert_eq!(format_offset(3_500_000), "+3.50 s");
    }

    #[test]
    fn transactions_link_to_their_board_row_under_the_name_the_report_uses() {
        let mut root = Transaction::new("URL", "/order/42", 1_795_331_315_581);
        root.duration_us = 41_300;
        let mut sql = Transaction::new("SQL", "OrderDao.find", 1_795_331_315_600);
        sql.duration_us = 2_000;
        root.children.push(Message::Transaction(sql));
        root.children.push(Message::Event(Leaf::new(
            "Cache",
            "hit",
            "0",
            1_795_331_315_590,
            "",
        )));
        root.children.push(Message::Transaction(Transaction::new(
            "URL",
            "/order/43",
            1_795_331_315_623,
        )));
        let mut tree = tree(Message::Transaction(root));
        tree.header.domain = "shop".to_owned();
        let html = render_tree(
            "shop-7f000001-498703-1",
            &tree,
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string();
        let hour = ocelot_analyzer::hour_label(hour_of(1_795_331_315_581));
        assert!(
            html.contains(&format!(
                r#"href="/t?domain=shop&amp;hour={hour}&amp;type=URL&amp;name=%2Forder%2F%7Bnum%7D""#
            )),
            "the root, named as the report names it: {html}"
        );
        assert!(html.contains(&format!(
            r#"href="/t?domain=shop&amp;hour={hour}&amp;type=SQL&amp;name=OrderDao.find""#
        )));
        assert!(
            html.contains("name=%2Forder%2F43"),
            "only the first URL is renamed"
        );
        assert!(!html.contains("type=Cache"), "events are not transactions");
        assert!(html.contains("+19 ms") && html.contains("+42 ms"), "{html}");
        assert!(!html.contains("+42.0 ms"));
    }

    /// The root's timestamp is the client's. Past the year 9999 its hour has an 11-digit
    /// label, which a board's `hour=` refuses with a 400: no board link then, and the board
    /// row says why, naming the hour field by field (the year just has five digits).
    #[test]
    fn a_root_past_the_year_9999_gets_no_board_link_but_a_reason() {
        // 10000-01-01 00:00:00.000 UTC plus 2 h 30 min.
        let timestamp_ms = 253_402_300_800_000 + 9_000_000;
        let mut root = Transaction::new("Service", "pay", timestamp_ms);
        root.children.push(Message::Transaction(Transaction::new(
            "SQL",
            "select",
            timestamp_ms,
        )));
        let mut tree = tree(Message::Transaction(root));
        tree.header.domain = "shop".to_owned();
        let html = render_tree(
            "shop-7f000001-498703-1",
            &tree,
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string();
        assert!(!html.contains("/t?"), "no link to a board: {html}");
        assert!(
            html.contains(
                "none: its root is dated in the hour of 10000-01-01 02:00 UTC, and the boards \
                 show hours up to the year 9999"
            ),
            "{html}"
        );
        assert!(html.contains("10000-01-01 02:30:00.000 UTC"), "{html}");
        // The last hour the boards name still links.
        tree.root = Message::Transaction(Transaction::new(
            "Service",
            "pay",
            timestamp_ms - 3 * 3_600_000,
        ));
        let html = render_tree(
            "shop-7f000001-498703-1",
            &tree,
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string();
        assert!(html.contains("hour=9999123123"), "{html}");
    }

    #[test]
    fn a_tree_without_a_transaction_root_has_no_board_links() {
        let mut tree = tree(Message::Event(Leaf::new("E", "n", "0", 1, "")));
        tree.header.domain = "shop".to_owned();
        assert!(!render_tree(
            "shop-7f000001-498703-1",
            &tree,
            &AnalyzerConfig::default(),
            &FiledRows::default(),
        )
        .into_string()
        .contains("/t?"));
    }

    #[test]
    fn long_data_is_folded_and_short_data_inline() {
        assert!(render_data("a=1")
            .into_string()
            .contains("<code>a=1</code>"));
        let long = "x".repeat(500);
        let html = render_data(&long).into_string();
        assert!(html.starts_with("<details"));
        assert!(html.contains("(500 bytes)"));
    }
}
