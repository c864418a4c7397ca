//! A thread that records nothing (`record_nothing_on_this_thread`): what a transport's own
//! threads call so that their log lines never become trees sent through the transport.

use std::time::Duration;

use ocelot_client::{transaction, with_client, Client, MemoryTransport};

#[test]
fn a_thread_that_records_nothing_sends_no_tree_and_others_are_unaffected() {
    let (memory, sink) = MemoryTransport::new();
    let client = Client::builder()
        .domain("quiet-thread")
        .heartbeat_interval(None)
        .transport(memory)
        .build();
    let on_thread = client.clone();
    std::thread::spawn(move || {
        with_client(&on_thread, || drop(transaction!("URL", "/before")));
        ocelot_client::record_nothing_on_this_thread();
        with_client(&on_thread, || {
            let t = transaction!("URL", "/after");
            t.add_data("k", 1);
        });
    })
    .join()
    .expect("the thread does not panic");
    with_client(&client, || drop(transaction!("URL", "/other-thread")));
    assert!(client.flush(Duration::from_secs(5)));
    let names: Vec<String> = sink
        .trees()
        .iter()
        .map(|t| t.root.name().to_owned())
        .collect();
    assert_eq!(names, ["/before", "/other-thread"]);
    assert_eq!(client.stats().produced, 2, "nothing was counted for /after");
}
