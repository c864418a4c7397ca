//! A thousand domains in one hour under the common open-file limit of 1024. This file is
//! its own test process: it lowers that process's limit.

mod common;

use common::{frame, id, open};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

#[test]
fn a_thousand_domains_in_an_hour_stay_within_1024_open_files() {
    // 1024 is the usual soft limit (systemd services, most shells); 1 000 domains is the
    // analyzers' default cap per hour. Each open domain-hour used to hold its data file
    // open until idle, so the thousandth ran out of descriptors and its trees were lost.
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.maximum.map_or(1024, |hard| hard.min(1024));
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids: Vec<_> = (0..1000).map(|d| id(&format!("app-{d}"), 1, 1)).collect();
    for round in 0..2 {
        for i in &ids {
            let i = ocelot_protocol::MessageId::new(&i.domain, 1, i.hour, round);
            store.append(&i, frame(&i, 10)).unwrap();
        }
        store.flush().unwrap();
    }
    let missing = ids
        .iter()
        .flat_map(|i| (0..2).map(|seq| ocelot_protocol::MessageId::new(&i.domain, 1, i.hour, seq)))
        .filter(|i| !matches!(store.lookup(i), Ok(Some(f)) if f == frame(i, 10)))
        .count();
    let drops = store.drops();
    assert_eq!(missing, 0, "trees lost: {missing}; drops {drops:?}");
    assert_eq!(store.stats().io_errors, 0);
}
