//! `nt1::scan_body` must agree with `nt1::decode_body` on every input: same verdict, same
//! error, and for a good body the same domain, message ID and root timestamp. The collector
//! refuses frames by the scan and decodes them later on another thread, so any difference
//! would be a frame accepted on the socket and then lost (or the reverse).
//!
//! `nt1::decode_body_into`, the collector's decoder (into a scratch tree it reuses), must
//! give `decode_body`'s tree or error whatever the scratch tree held before: here it is the
//! tree (or wreck) of the previous case. `decode_body_into_keeping` must give the same,
//! with exactly the header and data fields it does not keep empty.
//!
//! `nt1::decode_view`, what the collector's analyzer threads read frames with, must give
//! the view of that lean tree (`TreeView::of`), or refuse the body when `decode_body` does
//! or when a text it keeps is not UTF-8 (the tree holds it with replacement characters).

use std::cell::RefCell;
use std::path::PathBuf;

use ocelot_protocol::nt1::{decode_body, decode_body_into, scan_body};
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{nt1, DecodeError, Message, MessageKind, MessageTree, TreeView};
use proptest::prelude::*;

thread_local! {
    static SCRATCH: RefCell<MessageTree> = RefCell::new(MessageTree::default());
    static LEAN_SCRATCH: RefCell<MessageTree> = RefCell::new(MessageTree::default());
}

/// A filter that keeps some data: events' whose data is not `"x"`.
fn keep_event_data(kind: MessageKind, _type: &str, data: &[u8]) -> bool {
    kind == MessageKind::Event && data != b"x"
}

/// What `keep_event_data` leaves of a tree's data.
fn strip_data(message: &mut Message) {
    match message {
        Message::Transaction(t) => {
            t.data.clear();
            t.children.iter_mut().for_each(strip_data);
        }
        Message::Event(l) if l.data != "x" => {}
        Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => {
            l.data.clear();
        }
    }
}

fn agree(body: &[u8]) -> Result<(), TestCaseError> {
    let scanned = scan_body(body);
    let decoded = decode_body(body);
    let reused = SCRATCH
        .with_borrow_mut(|scratch| decode_body_into(body, scratch).map(|()| scratch.clone()));
    prop_assert_eq!(&reused, &decoded);
    let lean = LEAN_SCRATCH.with_borrow_mut(|scratch| {
        let keep = nt1::Keep {
            header: nt1::HEADER_DOMAIN | nt1::HEADER_MESSAGE_ID,
            data: keep_event_data,
        };
        nt1::decode_body_into_keeping(body, scratch, keep).map(|()| scratch.clone())
    });
    let stripped = decoded.clone().map(|mut tree| {
        strip_data(&mut tree.root);
        let h = &mut tree.header;
        for field in [
            &mut h.hostname,
            &mut h.ip_address,
            &mut h.thread_group_name,
            &mut h.thread_id,
            &mut h.thread_name,
            &mut h.parent_message_id,
            &mut h.root_message_id,
            &mut h.session_token,
        ] {
            field.clear();
        }
        tree
    });
    prop_assert_eq!(&lean, &stripped);
    let mut view = TreeView::default();
    let viewed = nt1::decode_view(body, keep_event_data, &mut view);
    match (&viewed, &stripped, &decoded) {
        (Ok(()), Ok(tree), Ok(full)) => {
            let mut expected = TreeView::of(tree);
            expected.ip_address = &full.header.ip_address;
            prop_assert_eq!(&view, &expected);
        }
        (Ok(()), _, _) => prop_assert!(false, "viewed a body decode refuses"),
        (Err(_), Ok(tree), Ok(full)) => {
            let expected = TreeView::of(tree);
            let replaced = |s: &str| s.contains('\u{fffd}');
            prop_assert!(
                [
                    expected.domain,
                    &full.header.ip_address,
                    expected.message_id
                ]
                .into_iter()
                .chain(
                    expected
                        .messages
                        .iter()
                        .flat_map(|m| [m.type_, m.name, m.status, m.data])
                )
                .any(replaced),
                "refused a body decode accepts, without replaced text"
            );
        }
        (Err(_), _, _) => {}
    }
    match (&scanned, &decoded) {
        (Ok(scan), Ok(tree)) => {
            prop_assert_eq!(
                String::from_utf8_lossy(&body[scan.domain.clone()]),
                tree.header.domain.as_str()
            );
            prop_assert_eq!(
                String::from_utf8_lossy(&body[scan.message_id.clone()]),
                tree.header.message_id.as_str()
            );
            prop_assert_eq!(scan.root_timestamp_ms, tree.root.timestamp_ms());
            prop_assert_eq!(scan.messages, tree.message_count());
        }
        (Err(a), Err(b)) => prop_assert_eq!(a, b),
        _ => prop_assert!(
            false,
            "scan {:?} but decode {:?}",
            scanned.map(|_| ()),
            decoded.map(|_| ())
        ),
    }
    Ok(())
}

fn sample_bodies() -> Vec<Vec<u8>> {
    let mut samples = SampleTrees::new(3, 5, 20, 1_764_000_000_000);
    let mut bodies: Vec<Vec<u8>> = (0..40)
        .map(|_| nt1::encode_to_bytes(&samples.tree())[4..].to_vec())
        .collect();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/cat-c-client/binary");
    for entry in std::fs::read_dir(dir).unwrap() {
        let frame = std::fs::read(entry.unwrap().path()).unwrap();
        bodies.push(frame[4..].to_vec());
    }
    bodies
}

#[test]
fn scan_agrees_with_decode_on_every_captured_and_sample_body() {
    for body in sample_bodies() {
        assert!(scan_body(&body).is_ok());
        agree(&body).unwrap();
        let mut view = TreeView::default();
        assert_eq!(nt1::decode_view(&body, keep_event_data, &mut view), Ok(()));
    }
}

#[test]
fn a_view_refuses_text_that_is_not_utf8_and_the_tree_replaces_it() {
    let tree = MessageTree::new(
        ocelot_protocol::Header {
            domain: "shop".into(),
            ..Default::default()
        },
        Message::Event(ocelot_protocol::Leaf::new("E", "caf\u{e9}", "0", 1, "")),
    );
    let mut body = nt1::encode_to_bytes(&tree)[4..].to_vec();
    let mut view = TreeView::default();
    assert_eq!(nt1::decode_view(&body, keep_event_data, &mut view), Ok(()));
    assert_eq!(view.messages[0].name, "caf\u{e9}");
    let mut view = view.recycle();
    let at = body.len() - 4; // the name's last byte: the second of the UTF-8 'é'
    assert_eq!(body[at], 0xa9);
    body[at] = b'!';
    assert_eq!(
        nt1::decode_view(&body, keep_event_data, &mut view),
        Err(nt1::NotViewable)
    );
    agree(&body).unwrap();
}

#[test]
fn scan_gives_decodes_error_for_each_kind_of_bad_body() {
    let cases: [&[u8]; 7] = [
        b"",
        b"XT1",
        b"NT1\x05abc",
        b"NT1\0\0\0\0\0\0\0\0\0\0",
        b"NT1\0\0\0\0\0\0\0\0\0\0T\0\0\x01",
        b"NT1\0\0\0\0\0\0\0\0\0\0t\x01\x01a\x01b",
        b"NT1\0\0\0\0\0\0\0\0\0\0E\x01\0\0\0\0E",
    ];
    for body in cases {
        let scanned = scan_body(body).map(|_| ());
        assert!(scanned.is_err(), "{body:?}");
        assert_eq!(scanned, decode_body(body).map(|_| ()), "{body:?}");
    }
    let mut deep = b"NT1".to_vec();
    deep.extend_from_slice(&[0; 10]);
    for _ in 0..600 {
        deep.extend_from_slice(&[b't', 1, 1, b'a', 1, b'b']);
    }
    assert!(matches!(scan_body(&deep), Err(DecodeError::TooDeep { .. })));
    agree(&deep).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn scan_and_decode_agree_on_mutated_bodies(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let bodies = sample_bodies();
        let mut body = bodies[pick.index(bodies.len())].clone();
        for (at, byte, how) in edits {
            let i = at.index(body.len().max(1)).min(body.len());
            match how {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                2 if i < body.len() => { body.remove(i); }
                _ => if i < body.len() { body[i] ^= 1 },
            }
        }
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        agree(&body)?;
    }

    #[test]
    fn scan_and_decode_agree_on_arbitrary_nt1_bytes(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut body = b"NT1".to_vec();
        body.extend_from_slice(&tail);
        agree(&body)?;
    }
}
