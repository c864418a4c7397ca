//! The trace page: the trees of one request that crossed services, on one waterfall.
//!
//! * `GET /trace/{id}`: every tree of the trace `id` belongs to, each under the
//!   `RemoteCall` event that led to it, its service and machine on its first row and a link
//!   to its LogView page; bars on one time axis; the tree asked for highlighted; a linked
//!   tree that is not stored shown as a row saying so. The header tells the request: how it
//!   ended, its duration and start are its root transaction's (the root tree's), apart
//!   from the services that had failures and the span of all the trees.
//! * `GET /api/trace?id=`: the same trees as JSON, in the page's order: `{"id","rootId",
//!   "trees":[{"id","domain","ip","parentId","link","remoteCall","tree"}],
//!   "missing":[{"id","parentId","link","why"}],"truncated"}`, where `tree` is what
//!   `/api/message/{id}` answers and `parentId` the tree it hangs under here.
//!
//! A request that crosses services is one tree per service, linked as CAT links them: the
//! caller's `RemoteCall` event names the callee's tree (or the next part of a split tree,
//! or a detached thread's), and the callee's header names its parent and root trees.
//! LogView shows one tree and its links; this page follows them.
//!
//! The walk: from the tree asked for, up to the trace's root (the header's root ID, else
//! its parent IDs), then down from the root, one level of trees at a time, along the links
//! LogView draws ([`remote_link`]). Each ID is taken once, so a cycle ends where it closes.
//! A tree whose parent names it only in the header (no `RemoteCall` event) hangs at the end
//! of its parent, so the tree asked for is always shown; asked from above, such a tree is
//! not found, as the store has no index from a parent to its children. The walk is bounded
//! ([`MAX_TRACE_TREES`], [`MAX_TRACE_DEPTH`], [`MAX_TRACE_MESSAGES`]) and says when it
//! stopped at a bound; a tree asked for past the trees bound takes the last tree's place. Lookups run on blocking threads as LogView's do
//! ([`find_tree`]), a few at once ([`LOOKUPS_IN_FLIGHT`]).
//!
//! Non-goal: aligning clocks. Each tree's timestamps are its own machine's, drawn as they
//! are; the page says so.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_protocol::{Message, MessageId, TreeJson};
use serde::{Deserialize, Serialize};

use crate::board::format_count;
use crate::cpu::heavy;
use crate::error::{ApiError, ApiQuery, PageError};
use crate::layout::{page_with_search, PageTitle};
use crate::links::{anchor_id, api_trace_url, logview_url};
use crate::logview::{
    find_tree, id_problem, is_failure, path_problem, remote_link, render_row, rows,
    unknown_id_detail, waterfall_head, why_missing, RemoteLinkKind, TimeAxis, MAX_TREE_ROWS,
    USUAL_REASONS,
};
use crate::lookup::{lookup_failure, LookupFailed, StoredTree};
use crate::state::AppState;
use crate::time::{format_duration_us, format_utc_ms};

/// Most trees one trace shows (found or not). A request fanning out to tens of services
/// stays far below; the bound keeps a trace whose clients link every request of a batch
/// job to one root from costing the server thousands of lookups.
pub(crate) const MAX_TRACE_TREES: usize = 200;
/// Most levels of trees below the root (and most parent IDs climbed to find it). RPC chains
/// are a handful of services deep; a longer chain is more likely links gone wrong.
pub(crate) const MAX_TRACE_DEPTH: usize = 32;
/// Once the trees found hold this many messages, no more are looked up: ten LogView pages'
/// worth. The JSON carries every message of every tree, and a frame may hold a million.
pub(crate) const MAX_TRACE_MESSAGES: usize = 10 * MAX_TREE_ROWS;
/// Lookups run at once for one trace. Each holds a blocking thread reading the store's
/// files; a few overlap the waits of one level of callees without taking the pool.
const LOOKUPS_IN_FLIGHT: usize = 4;
/// What a tree found only through a header's parent ID says of itself.
const PARENT_ID_ONLY: &str = "linked only by its header's parent ID: no RemoteCall event names it";

/// What a tree whose lookup task failed (a panic, logged) says of itself.
const LOOKUP_TASK_FAILED: &str =
    "The lookup of this tree failed on the server; the details are in its log.";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/trace/{id}", get(trace_page))
        .route("/api/trace", get(trace_json))
}

/// How a tree was reached from the one it hangs under.
#[derive(Debug, Clone)]
enum Via {
    /// A `RemoteCall` event (kept for the JSON), row `row` of the parent's rows.
    RemoteCall {
        kind: RemoteLinkKind,
        row: usize,
        event: Message,
    },
    /// Only the child's header names the parent.
    ParentId,
}

impl Via {
    /// The parent's row it hangs under; `None`: after the parent's rows.
    fn row(&self) -> Option<usize> {
        match self {
            Via::RemoteCall { row, .. } => Some(*row),
            Via::ParentId => None,
        }
    }

    fn as_str(&self) -> &'static str {
        match self {
            Via::RemoteCall { kind, .. } => kind.as_str(),
            Via::ParentId => "parentId",
        }
    }
}

/// Where one link out of a tree led.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkTo {
    /// To this node.
    Node(usize),
    /// To a tree shown elsewhere in the trace (a cycle, or two links to one tree).
    Seen,
    /// Not followed: the walk reached a bound.
    NotFollowed,
}

/// A link out of a tree.
#[derive(Debug, Clone)]
struct Link {
    /// The ID it names, as written.
    raw: String,
    id: MessageId,
    via: Via,
    to: LinkTo,
}

/// One place in a trace: a tree found, or an ID that was not.
#[derive(Debug)]
struct Node {
    /// The ID as written where it was found: a link, a header, the address.
    raw: String,
    id: MessageId,
    /// `Ok`: the tree; `Err`: why it is not shown.
    stored: Result<StoredTree, String>,
    /// The node it hangs under and how it was reached; `None` for a top.
    from: Option<(usize, Via)>,
    /// Its links in the order followed: by row, then the header-only ones.
    links: Vec<Link>,
}

/// A walked trace.
#[derive(Debug)]
struct Trace {
    asked: MessageId,
    nodes: Vec<Node>,
    /// The nodes hanging under no other: the root first; then, when the tree asked for is
    /// not reached from it, the highest tree above that one.
    tops: Vec<usize>,
    /// Whether the walk stopped at a bound with links left.
    truncated: bool,
    /// The tree the tree asked for took the place of, at the trees bound.
    replaced: Option<String>,
}

impl Trace {
    /// Node indexes in the page's order: each node, then what hangs under it.
    fn order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<usize> = self.tops.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            order.push(n);
            let children = self.nodes[n].links.iter().filter_map(|l| match l.to {
                LinkTo::Node(c) => Some(c),
                _ => None,
            });
            let at = stack.len();
            stack.extend(children);
            stack[at..].reverse();
        }
        order
    }

    fn trees(&self) -> impl Iterator<Item = &StoredTree> {
        self.nodes.iter().filter_map(|n| n.stored.as_ref().ok())
    }
}

/// A lookup's answer, for a tree other than the one asked for: a tree that cannot be read
/// is shown as missing, saying why.
fn found_or_why(
    raw: &str,
    found: Result<Option<StoredTree>, LookupFailed>,
) -> Option<Result<StoredTree, String>> {
    match found {
        Ok(Some(tree)) => Some(Ok(tree)),
        Ok(None) => None,
        Err(LookupFailed::Store(detail)) => Some(Err(lookup_failure(raw, &detail))),
        Err(LookupFailed::Task(detail)) => {
            tracing::error!(%detail, id = raw, "trace: a lookup failed");
            Some(Err(LOOKUP_TASK_FAILED.to_owned()))
        }
    }
}

/// The walk's state (see the module docs).
struct Walk<'a> {
    state: &'a AppState,
    /// Trees looked up while climbing, taken when the walk down reaches them.
    climbed: HashMap<MessageId, Option<Result<StoredTree, String>>>,
    /// Parent ID to the tree above the asked one that names it (the climb's chain): how a
    /// tree linked by its header only is reached.
    named_by_child: HashMap<MessageId, (String, MessageId)>,
    nodes: Vec<Node>,
    tops: Vec<usize>,
    visited: HashSet<MessageId>,
    messages: usize,
    truncated: bool,
}

/// A link to look up: the node it leaves from and its place in that node's links.
struct Pending {
    parent: usize,
    link: usize,
    raw: String,
    id: MessageId,
}

impl Walk<'_> {
    /// `None` (not stored), or the tree or why it cannot be shown, from the climb's trees
    /// or the store.
    async fn look_up(&mut self, raw: &str, id: &MessageId) -> Option<Result<StoredTree, String>> {
        if let Some(found) = self.climbed.remove(id) {
            return found;
        }
        found_or_why(raw, find_tree(self.state, id.clone()).await)
    }

    fn push_node(
        &mut self,
        raw: String,
        id: MessageId,
        found: Option<Result<StoredTree, String>>,
        from: Option<(usize, Via)>,
    ) -> usize {
        let stored = found.unwrap_or_else(|| Err(String::new()));
        if let Ok(tree) = &stored {
            self.messages = self.messages.saturating_add(tree.tree.message_count());
        }
        self.nodes.push(Node {
            raw,
            id,
            stored,
            from,
            links: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// The links out of node `n`: its `RemoteCall` events by row, then the tree of the
    /// climb naming it as parent (if no event did).
    fn links_of(&self, n: usize) -> Vec<(String, MessageId, Via)> {
        let node = &self.nodes[n];
        let mut links = Vec::new();
        if let Ok(stored) = &node.stored {
            for (row, (message, _)) in rows(&stored.tree.root).into_iter().enumerate() {
                let Some((kind, raw)) = remote_link(message) else {
                    continue;
                };
                let Ok(id) = raw.parse::<MessageId>() else {
                    continue;
                };
                let event = message.clone();
                links.push((raw.to_owned(), id, Via::RemoteCall { kind, row, event }));
            }
        }
        if let Some((raw, child)) = self.named_by_child.get(&node.id) {
            if !links.iter().any(|(_, id, _)| id == child) {
                links.push((raw.clone(), child.clone(), Via::ParentId));
            }
        }
        links
    }

    /// Walks down from `raw` as a new top, level by level.
    async fn walk_from(&mut self, raw: String, id: MessageId) {
        self.visited.insert(id.clone());
        let found = self.look_up(&raw, &id).await;
        let top = self.push_node(raw, id, found, None);
        self.tops.push(top);
        let mut level = vec![top];
        let mut depth = 0;
        while !level.is_empty() {
            depth += 1;
            let mut pending = Vec::new();
            for &n in &level {
                for (raw, id, via) in self.links_of(n) {
                    // A header-only link to a tree shown already says nothing new.
                    if self.visited.contains(&id) && matches!(via, Via::ParentId) {
                        continue;
                    }
                    let to = if self.visited.contains(&id) {
                        LinkTo::Seen
                    } else if depth > MAX_TRACE_DEPTH
                        || self.nodes.len() + pending.len() >= MAX_TRACE_TREES
                        || self.messages >= MAX_TRACE_MESSAGES
                    {
                        self.truncated = true;
                        LinkTo::NotFollowed
                    } else {
                        self.visited.insert(id.clone());
                        pending.push(Pending {
                            parent: n,
                            link: self.nodes[n].links.len(),
                            raw: raw.clone(),
                            id: id.clone(),
                        });
                        // Until found: the messages bound may still stop it.
                        LinkTo::NotFollowed
                    };
                    self.nodes[n].links.push(Link { raw, id, via, to });
                }
            }
            level = self.look_up_level(pending).await;
        }
    }

    /// Takes the last node out of the walk, making room for the tree asked for at the
    /// trees bound, and answers its ID. Nodes come after the node they hang under, so
    /// nothing hangs under the last one; the links to it become "not followed".
    fn drop_last(&mut self) -> Option<String> {
        let node = self.nodes.pop()?;
        let gone = self.nodes.len();
        if let Ok(stored) = &node.stored {
            self.messages = self.messages.saturating_sub(stored.tree.message_count());
        }
        self.tops.retain(|&t| t != gone);
        for link in self.nodes.iter_mut().flat_map(|n| n.links.iter_mut()) {
            if link.to == LinkTo::Node(gone) || (link.to == LinkTo::Seen && link.id == node.id) {
                link.to = LinkTo::NotFollowed;
            }
        }
        self.visited.remove(&node.id);
        self.truncated = true;
        Some(node.raw)
    }

    /// Looks up one level's links, [`LOOKUPS_IN_FLIGHT`] at once, and adds their nodes.
    async fn look_up_level(&mut self, pending: Vec<Pending>) -> Vec<usize> {
        let mut added = Vec::with_capacity(pending.len());
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            if self.messages >= MAX_TRACE_MESSAGES {
                // Left as not followed, and not taken: a later link to one says the same.
                for left in pending.by_ref() {
                    self.visited.remove(&left.id);
                    self.truncated = true;
                }
                break;
            }
            let chunk: Vec<Pending> = pending.by_ref().take(LOOKUPS_IN_FLIGHT).collect();
            let mut answers: Vec<Option<Option<Result<StoredTree, String>>>> =
                chunk.iter().map(|p| self.climbed.remove(&p.id)).collect();
            let mut lookups = tokio::task::JoinSet::new();
            for (i, p) in chunk.iter().enumerate() {
                if answers[i].is_none() {
                    let state = self.state.clone();
                    let id = p.id.clone();
                    lookups.spawn(async move { (i, find_tree(&state, id).await) });
                }
            }
            while let Some(joined) = lookups.join_next().await {
                match joined {
                    Ok((i, found)) => answers[i] = Some(found_or_why(&chunk[i].raw, found)),
                    // `find_tree` catches the lookup's own panic; this is the task's.
                    Err(join) => tracing::error!(%join, "trace: a lookup task failed"),
                }
            }
            for (p, answer) in chunk.into_iter().zip(answers) {
                let found = answer.unwrap_or_else(|| Some(Err(LOOKUP_TASK_FAILED.to_owned())));
                let via = self.nodes[p.parent].links[p.link].via.clone();
                let node = self.push_node(p.raw, p.id, found, Some((p.parent, via)));
                self.nodes[p.parent].links[p.link].to = LinkTo::Node(node);
                added.push(node);
            }
        }
        added
    }
}

/// Walks the trace of `asked`, whose tree is `tree`.
async fn walk(state: &AppState, raw: &str, asked: MessageId, tree: StoredTree) -> Trace {
    let mut walk = Walk {
        state,
        climbed: HashMap::new(),
        named_by_child: HashMap::new(),
        nodes: Vec::new(),
        tops: Vec::new(),
        visited: HashSet::new(),
        messages: 0,
        truncated: false,
    };
    let named_root = (tree.tree.header.root_id())
        .and_then(|r| Some((r.to_owned(), r.parse::<MessageId>().ok()?)))
        .filter(|(_, r)| *r != asked);
    // Climb the parent IDs: the chain from the tree asked for up to the highest found.
    let mut below = (raw.to_owned(), asked.clone());
    let mut chain: Vec<(String, MessageId)> = vec![below.clone()];
    let mut missing_above = None;
    let mut parent = tree.tree.header.parent_id().map(str::to_owned);
    walk.climbed.insert(asked.clone(), Some(Ok(tree)));
    for step in 0..=MAX_TRACE_DEPTH {
        let Some((parent_raw, parent_id)) =
            parent.and_then(|p| Some((p.clone(), p.parse::<MessageId>().ok()?)))
        else {
            break;
        };
        if chain.iter().any(|(_, id)| *id == parent_id) {
            break; // Parent IDs that go round.
        }
        if step == MAX_TRACE_DEPTH {
            walk.truncated = true;
            break;
        }
        walk.named_by_child.insert(parent_id.clone(), below);
        let found = walk.look_up(&parent_raw, &parent_id).await;
        parent = match &found {
            Some(Ok(stored)) => stored.tree.header.parent_id().map(str::to_owned),
            _ => None,
        };
        let is_tree = matches!(found, Some(Ok(_)));
        walk.climbed.insert(parent_id.clone(), found);
        if !is_tree {
            missing_above = Some((parent_raw, parent_id));
            break;
        }
        below = (parent_raw, parent_id);
        chain.push(below.clone());
    }
    if let Some((root_raw, root)) = named_root {
        walk.walk_from(root_raw, root).await;
    }
    // Not reached from the root (or no root named): from the highest tree above it not
    // shown yet, which reaches it through the chain's links unless a bound stops it.
    // At the trees bound, only the tree asked for is still shown, in the last one's place.
    let above = missing_above.into_iter().chain(chain.into_iter().rev());
    let mut replaced = None;
    for (raw, id) in above {
        if walk.visited.contains(&asked) {
            break;
        }
        if walk.visited.contains(&id) {
            continue;
        }
        if walk.nodes.len() >= MAX_TRACE_TREES {
            if id != asked {
                continue;
            }
            replaced = walk.drop_last();
        }
        walk.walk_from(raw, id).await;
    }
    Trace {
        asked,
        nodes: walk.nodes,
        tops: walk.tops,
        truncated: walk.truncated,
        replaced,
    }
}

/// Fills in why each tree not found is missing, asking the server once per hour.
async fn explain_missing(state: &AppState, trace: &mut Trace) {
    let mut by_hour: HashMap<u64, Option<String>> = HashMap::new();
    for node in &mut trace.nodes {
        if let Err(why) = &mut node.stored {
            if why.is_empty() {
                let known = match by_hour.get(&node.id.hour) {
                    Some(known) => known.clone(),
                    None => {
                        let known = why_missing(state, &node.id).await;
                        by_hour.insert(node.id.hour, known.clone());
                        known
                    }
                };
                *why = format!(
                    "No stored tree has this ID. {}",
                    known.as_deref().unwrap_or(USUAL_REASONS)
                );
            }
        }
    }
}

/// The trace of `raw`: `Ok(None)` when its own tree is not stored.
async fn trace_of(
    state: &AppState,
    raw: &str,
    id: MessageId,
) -> Result<Option<Trace>, LookupFailed> {
    let Some(tree) = find_tree(state, id.clone()).await? else {
        return Ok(None);
    };
    let mut trace = walk(state, raw, id, tree).await;
    explain_missing(state, &mut trace).await;
    Ok(Some(trace))
}

async fn trace_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let Path(raw) = path.map_err(|r| PageError::bad_request(path_problem(&r)))?;
    let id: MessageId = raw.parse().map_err(|err| PageError::BadRequest {
        title: "Not a message ID".to_owned(),
        detail: id_problem(&err),
        search: raw.clone(),
    })?;
    match trace_of(&state, &raw, id.clone()).await {
        Ok(Some(trace)) => Ok(heavy(|| render_page(&raw, &trace))),
        Ok(None) => Err(PageError::NotFound {
            title: "No such message".to_owned(),
            detail: unknown_id_detail(&id, why_missing(&state, &id).await.as_deref()),
            search: raw,
        }),
        Err(failed) => Err(failed.page(raw)),
    }
}

/// `/api/trace`'s parameters.
#[derive(Debug, Deserialize)]
struct TraceQuery {
    id: Option<String>,
}

/// `/api/trace`'s answer (see the module docs).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TraceView<'a> {
    id: &'a str,
    root_id: &'a str,
    trees: Vec<TreeView<'a>>,
    missing: Vec<MissingView<'a>>,
    truncated: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TreeView<'a> {
    id: &'a str,
    domain: &'a str,
    ip: &'a str,
    parent_id: Option<&'a str>,
    link: Option<&'static str>,
    remote_call: Option<&'a Message>,
    tree: TreeJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MissingView<'a> {
    id: &'a str,
    parent_id: Option<&'a str>,
    link: Option<&'static str>,
    why: &'a str,
}

fn trace_view<'a>(raw: &'a str, trace: &'a Trace) -> TraceView<'a> {
    let mut view = TraceView {
        id: raw,
        root_id: trace.tops.first().map_or(raw, |&t| &trace.nodes[t].raw),
        trees: Vec::new(),
        missing: Vec::new(),
        truncated: trace.truncated,
    };
    for n in trace.order() {
        let node = &trace.nodes[n];
        let parent_id = node
            .from
            .as_ref()
            .map(|(p, _)| trace.nodes[*p].raw.as_str());
        let via = node.from.as_ref().map(|(_, via)| via);
        let link = via.map(Via::as_str);
        match &node.stored {
            Ok(stored) => view.trees.push(TreeView {
                id: &node.raw,
                domain: &stored.tree.header.domain,
                ip: &stored.tree.header.ip_address,
                parent_id,
                link,
                remote_call: match via {
                    Some(Via::RemoteCall { event, .. }) => Some(event),
                    _ => None,
                },
                tree: TreeJson {
                    format: stored.format,
                    tree: &stored.tree,
                },
            }),
            Err(why) => view.missing.push(MissingView {
                id: &node.raw,
                parent_id,
                link,
                why,
            }),
        }
    }
    view
}

async fn trace_json(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<TraceQuery>,
) -> Result<Response, ApiError> {
    let raw = query.id.as_deref().map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::BadRequest(
            "id= is required: the message ID of any tree of the trace, e.g. \
             /api/trace?id=shop-0a000001-498703-42."
                .to_owned(),
        ));
    }
    let id: MessageId = raw
        .parse()
        .map_err(|err| ApiError::BadRequest(id_problem(&err)))?;
    match trace_of(&state, raw, id.clone()).await {
        Ok(Some(trace)) => {
            let body = heavy(|| serde_json::to_vec(&trace_view(raw, &trace)))
                .map_err(|e| ApiError::Internal(format!("trace JSON: {e}")))?;
            Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Ok(None) => Err(ApiError::UnknownId(match why_missing(&state, &id).await {
            Some(why) => format!("no stored tree has the ID {raw}. {why}"),
            None => format!("no stored tree has the ID {raw}"),
        })),
        Err(failed) => Err(failed.api(raw)),
    }
}

/// The page of the trace of `raw_id`.
fn render_page(raw_id: &str, trace: &Trace) -> Markup {
    let top = trace.tops.first().map(|&t| &trace.nodes[t]);
    let top_tree = top.and_then(|t| t.stored.as_ref().ok());
    // The tree asked for is always in the trace; the fallback is for the compiler.
    let axis = TimeAxis::covering(trace.trees().map(|s| TimeAxis::of(&s.tree.root)))
        .unwrap_or_else(|| TimeAxis::of(&Message::default()));
    let mut domains: Vec<&str> = Vec::new();
    for n in trace.order() {
        if let Ok(stored) = &trace.nodes[n].stored {
            if !domains.contains(&stored.tree.header.domain.as_str()) {
                domains.push(&stored.tree.header.domain);
            }
        }
    }
    let found = trace.trees().count();
    let missing = trace.nodes.len() - found;
    // The request is the root tree's root transaction. Without the root tree, the earliest
    // tree found stands in for it, and the page says so.
    let stand_in = top_tree.is_none();
    let request = top_tree.or_else(|| trace.trees().min_by_key(|s| s.tree.root.timestamp_ms()));
    let request_failed = request.is_some_and(|s| is_failure(&s.tree.root));
    let mut failed_domains: Vec<&str> = Vec::new();
    for n in trace.order() {
        if let Ok(stored) = &trace.nodes[n].stored {
            let domain = stored.tree.header.domain.as_str();
            if is_failure(&stored.tree.root) && !failed_domains.contains(&domain) {
                failed_domains.push(domain);
            }
        }
    }
    let duration_us = request.map(|s| request_duration_us(&s.tree.root));
    let title = match request {
        Some(s) => format!(
            "Trace {} {} · {raw_id}",
            s.tree.root.type_(),
            s.tree.root.name()
        ),
        None => format!("Trace · {raw_id}"),
    };
    let message_count: usize = trace.trees().map(|s| s.tree.message_count()).sum();
    let drawn = Cell::new(0usize);
    let body = html! {
        section.tree-summary {
            div.summary-title {
                h1 {
                    span.type { "Trace" }
                    @if let Some(s) = request {
                        " "
                        span.name { (s.tree.root.type_()) " " (s.tree.root.name()) }
                    }
                    @if stand_in && request.is_some() {
                        " " span.muted { "(the earliest tree found: the root tree is not stored)" }
                    }
                }
                @if let Some(duration_us) = duration_us {
                    span.duration-big title=(if stand_in {
                        "The earliest tree's root transaction's duration"
                    } else {
                        "The request's duration: the root transaction's"
                    }) {
                        (format_duration_us(duration_us))
                    }
                }
            }
            dl.facts {
                div { dt { "Asked for" } dd { a href=(logview_url(raw_id)) { code { (raw_id) } } } }
                @if let Some(top) = top {
                    div { dt { "Root" } dd {
                        a href=(logview_url(&top.raw)) { code { (top.raw) } }
                        @if stand_in { " " span.muted { "(not stored)" } }
                    } }
                }
                div { dt { "Trees" } dd {
                    (found)
                    @if missing > 0 { " " span.muted { "(" (missing) " not found)" } }
                } }
                div { dt { "Services" } dd { (domains.join(", ")) } }
                @if let Some(s) = request {
                    div {
                        dt { @if stand_in { "Earliest tree started" } @else { "Started" } }
                        dd { (format_utc_ms(s.tree.root.timestamp_ms())) }
                    }
                }
                @if duration_us != Some(axis.span_us()) {
                    div {
                        dt { "All trees span" }
                        dd title="From the first start to the last end, each tree by its own machine's clock" {
                            (format_duration_us(axis.span_us()))
                        }
                    }
                }
            }
            p.tree-actions {
                a href=(api_trace_url(raw_id)) { "Raw JSON" }
                @if stand_in {
                    span.badge.neutral { "The root tree is not stored: how the request ended is not known" }
                } @else if request_failed {
                    span.badge.fail { "This request failed" }
                } @else {
                    span.badge.ok { "This request succeeded" }
                }
                @if !failed_domains.is_empty() {
                    span.badge.warn title="Services with a tree whose root transaction failed" {
                        (failed_domains.len()) " of " (domains.len()) " services had failures: "
                        (failed_domains.join(", "))
                    }
                }
            }
        }
        p.hint {
            "Each tree is drawn by its own machine's clock: trees from other machines are "
            "placed by their own timestamps, so a clock that is off shifts their bars. "
            "A tree linked only by its header's parent ID (no RemoteCall event names it) is "
            "shown when asked for by its own ID or by a tree below it: from its parent's side "
            "nothing points to it."
        }
        section.waterfall aria-label="Trace" {
            table.tree {
                (waterfall_head(&axis))
                tbody {
                    @for (i, &top) in trace.tops.iter().enumerate() {
                        @if i > 0 {
                            tr.trace-note { td colspan="5" {
                                "Not reached from the root by its links: the trees above the one "
                                "asked for, from the highest known:"
                            } }
                        }
                        (render_node(trace, top, 0, &axis, &drawn))
                    }
                }
            }
            @if drawn.get() < message_count {
                p.hint.left-out {
                    "The first " (format_count(drawn.get() as u64)) " of "
                    (format_count(message_count as u64)) " messages; each tree's LogView page "
                    "has all of its own."
                }
            }
            @if trace.truncated {
                p.hint.left-out {
                    "The walk stopped at its bound (" (MAX_TRACE_TREES) " trees, "
                    (MAX_TRACE_DEPTH) " levels, " (format_count(MAX_TRACE_MESSAGES as u64))
                    " messages): linked trees past it are not shown; their RemoteCall rows "
                    "link to them."
                    @if let Some(replaced) = &trace.replaced {
                        " The tree asked for lies past the bound: it is shown in place of "
                        a href=(logview_url(replaced)) { code { (replaced) } }
                        ", the last tree the walk had taken."
                    }
                }
            }
        }
    };
    page_with_search(&PageTitle::plain(&title), "", raw_id, body)
}

/// How long the request of a trace took: its root transaction's duration (for a root
/// that is not a transaction, the span of its tree).
fn request_duration_us(root: &Message) -> u64 {
    root.as_transaction()
        .map_or_else(|| TimeAxis::of(root).span_us(), |t| t.duration_us)
}

/// Node `n` at indentation `depth`: its head row and rows, each link under its row.
fn render_node(
    trace: &Trace,
    n: usize,
    depth: usize,
    axis: &TimeAxis,
    drawn: &Cell<usize>,
) -> Markup {
    let node = &trace.nodes[n];
    let asked = node.id == trace.asked;
    let via = node.from.as_ref().map(|(_, via)| via);
    // Each row's links, found in one pass: a tree may hold 100 000 RemoteCall events, and
    // looking through all of its links for each of its rows took half a minute a page.
    let mut at_row: HashMap<usize, Vec<&Link>> = HashMap::new();
    let mut after_rows = Vec::new();
    for link in &node.links {
        match link.via.row() {
            Some(row) => at_row.entry(row).or_default().push(link),
            None => after_rows.push(link),
        }
    }
    html! {
        @match &node.stored {
            Ok(stored) => {
                @let header = &stored.tree.header;
                tr.trace-tree.asked[asked] id=(tree_anchor(&node.id)) {
                    td colspan="5" style={ "--depth:" (depth) } {
                        span.service { (header.domain) }
                        " "
                        span.machine title="The machine, whose clock this tree's times are" {
                            (header.ip_address)
                        }
                        @if !header.hostname.is_empty() {
                            " " span.muted { (header.hostname) }
                        }
                        " "
                        a.tree-link href=(logview_url(&node.raw)) title="This tree in LogView" {
                            code { (node.raw) }
                        }
                        @if asked { " " span.badge.neutral { "asked for" } }
                        @if matches!(via, Some(Via::ParentId)) {
                            " " span.muted { "(" (PARENT_ID_ONLY) ")" }
                        }
                    }
                }
                @for (row, (message, row_depth)) in rows(&stored.tree.root).into_iter().enumerate() {
                    @let shown = take_row(drawn);
                    @if shown {
                        (render_row(message, depth + row_depth, axis, None, false))
                    }
                    // A link's note goes under its row, so past the rows drawn only the
                    // trees it led to are: else the page listed every one of 100 000
                    // links, each a row, past the bound on rows.
                    @for link in at_row.get(&row).into_iter().flatten() {
                        @if shown || matches!(link.to, LinkTo::Node(_)) {
                            (render_link(trace, link, depth + row_depth + 1, axis, drawn))
                        }
                    }
                }
            }
            Err(why) => {
                tr.row.missing id=(tree_anchor(&node.id)) {
                    td colspan="5" style={ "--depth:" (depth) } {
                        span.badge.fail { "not found" }
                        " "
                        @if let Some(Via::RemoteCall { kind, .. }) = via { (kind.label()) " " }
                        a href=(logview_url(&node.raw)) { code { (node.raw) } }
                        div.data { (why) }
                    }
                }
            }
        }
        @for link in after_rows {
            (render_link(trace, link, depth + 1, axis, drawn))
        }
    }
}

/// Whether one more message row may be drawn ([`MAX_TREE_ROWS`] for the whole trace, as
/// LogView draws for one tree), counting it in `drawn`.
fn take_row(drawn: &Cell<usize>) -> bool {
    let more = drawn.get() < MAX_TREE_ROWS;
    if more {
        drawn.set(drawn.get() + 1);
    }
    more
}

/// The id of the head row of the tree `id`, which links to it from elsewhere jump to.
fn tree_anchor(id: &MessageId) -> String {
    anchor_id("tree-", &id.to_string())
}

/// What a link led to, at indentation `depth`.
fn render_link(
    trace: &Trace,
    link: &Link,
    depth: usize,
    axis: &TimeAxis,
    drawn: &Cell<usize>,
) -> Markup {
    html! {
        @match link.to {
            LinkTo::Node(c) => (render_node(trace, c, depth, axis, drawn)),
            LinkTo::Seen => tr.trace-note {
                td colspan="5" style={ "--depth:" (depth) } {
                    code { (link.raw) } " is "
                    a href={ "#" (tree_anchor(&link.id)) } { "shown elsewhere in this trace" }
                }
            },
            LinkTo::NotFollowed => tr.trace-note {
                td colspan="5" style={ "--depth:" (depth) } {
                    a href=(logview_url(&link.raw)) { code { (link.raw) } }
                    " not followed: the walk stopped at its bound"
                }
            },
        }
    }
}
