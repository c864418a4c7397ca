//! The store checked against an in-memory model under random appends, flushes, crashes
//! (with files truncated at random offsets) and reopenings.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::{frame, id};
use ocelot_protocol::MessageId;
use ocelot_store::Store;
use proptest::prelude::*;

const DOMAINS: [&str; 2] = ["shop", "cart-service"];

#[derive(Debug, Clone)]
enum Op {
    Append {
        domain: usize,
        ip: u32,
        seq: u64,
    },
    Flush,
    /// kill -9, then optionally truncate a data or index file (fraction of its length).
    Crash {
        truncate: Option<(bool, usize, f64)>,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..DOMAINS.len(), 0..2u32, 0..80u64).prop_map(|(domain, ip, seq)| Op::Append { domain, ip, seq }),
        2 => Just(Op::Flush),
        1 => proptest::option::of((any::<bool>(), 0..8usize, 0.0..1.0f64)).prop_map(|truncate| Op::Crash { truncate }),
        1 => Just(Op::Restart),
    ]
}

/// Every id's frame depends only on the id, so a re-sent tree is byte-identical and the
/// model need not track which copy won.
fn frame_of(i: &MessageId) -> bytes::Bytes {
    frame(i, (i.seq as usize * 997 + i.ip as usize * 131) % 7000)
}

fn open(dir: &Path) -> Store {
    // No timer-driven blocks: flushes happen exactly where the model says.
    common::open_untimed(dir)
}

#[derive(Default)]
struct Model {
    /// Flushed before the last crash/restart: must be found.
    durable: HashSet<MessageId>,
    /// Appended, not yet flushed.
    pending: HashSet<MessageId>,
    /// May or may not have survived a crash.
    maybe: HashSet<MessageId>,
}

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    for domain in DOMAINS {
        for ip in 0..2 {
            for seq in 0..80 {
                let i = id(domain, ip, seq);
                let got = store
                    .lookup(&i)
                    .map_err(|e| TestCaseError::fail(format!("{i}: {e}")))?;
                if model.durable.contains(&i) {
                    prop_assert_eq!(got, Some(frame_of(&i)), "{} must be found", i);
                } else if model.maybe.contains(&i) {
                    prop_assert!(
                        got.is_none() || got == Some(frame_of(&i)),
                        "{} wrong bytes",
                        i
                    );
                } else {
                    prop_assert_eq!(got, None, "{} was never stored", i);
                }
            }
        }
    }
    Ok(())
}

/// Data and index files of domain-hours that were being written (no clean marker).
fn dirty_files(root: &Path, data: bool) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let hour = root.join(common::HOUR.to_string());
    for domain in DOMAINS {
        let d = hour.join(domain);
        if d.join("messages.clean").exists() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let is_data = p.file_name().is_some_and(|n| n == "messages.dat");
            let is_index = p.extension().is_some_and(|x| x == "idx");
            if (data && is_data) || (!data && is_index) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_a_model_across_crashes_and_restarts(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Append { domain, ip, seq } => {
                    let i = id(DOMAINS[domain], ip, seq);
                    store.append(&i, frame_of(&i)).unwrap();
                    if !model.durable.contains(&i) {
                        model.pending.insert(i);
                    }
                }
                Op::Flush => {
                    store.flush().unwrap();
                    for i in model.pending.drain() {
                        model.maybe.remove(&i);
                        model.durable.insert(i);
                    }
                    check(&store, &model)?;
                }
                Op::Crash { truncate } => {
                    store.crash_for_tests();
                    drop(store);
                    let pending: Vec<_> = model.pending.drain().collect();
                    model.maybe.extend(pending);
                    if let Some((data, pick, fraction)) = truncate {
                        let files = dirty_files(dir.path(), data);
                        if !files.is_empty() {
                            let path = &files[pick % files.len()];
                            let len = std::fs::metadata(path).unwrap().len();
                            let cut = (len as f64 * fraction) as u64;
                            std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(cut).unwrap();
                            if data {
                                // A cut data file can lose any tree of its domain-hour.
                                let domain = path.parent().unwrap().file_name().unwrap().to_str().unwrap().to_owned();
                                let lost: Vec<_> = model.durable.iter().filter(|i| i.domain == domain).cloned().collect();
                                for i in lost {
                                    model.durable.remove(&i);
                                    model.maybe.insert(i);
                                }
                            }
                            // A cut index file loses nothing: recovery rebuilds it.
                        }
                    }
                    store = open(dir.path());
                    check(&store, &model)?;
                }
                Op::Restart => {
                    store.shutdown();
                    drop(store);
                    for i in model.pending.drain() {
                        model.maybe.remove(&i);
                        model.durable.insert(i);
                    }
                    store = open(dir.path());
                    check(&store, &model)?;
                }
            }
        }
        store.flush().unwrap();
        for i in model.pending.drain() {
            model.maybe.remove(&i);
            model.durable.insert(i);
        }
        check(&store, &model)?;
    }
}
