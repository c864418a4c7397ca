//! The whole LogView body of a deterministic real tree, as a reviewed snapshot: any change
//! to what a person sees shows up as a diff here (`cargo insta review` to accept).

mod common;

use std::sync::Arc;

use common::*;
use ocelot_web::{router, AppState, MemoryLookup};

/// S14-deterministic-golden: every field fixed at capture time.
const GOLDEN_ID: &str = "catgen-0a000001-1139568-42";

#[tokio::test]
async fn logview_of_the_golden_tree_renders_as_reviewed() {
    let app = router(AppState::new(Arc::new(MemoryLookup::from_trees([
        real_tree(25),
    ]))));
    let html = text(get(app, &format!("/m/{GOLDEN_ID}")).await).await;
    let start = html.find("<main").unwrap();
    let end = html.find("</main>").unwrap() + "</main>".len();
    // One tag per line keeps the snapshot diffable.
    let main = html[start..end].replace("><", ">\n<");
    insta::assert_snapshot!(main);
}
