//! Property tests: arbitrary trees survive encode -> decode in both formats, and decoding
//! arbitrary bytes never panics.

use ocelot_protocol::{
    decode_frame, nt1, pt1, scan_frame, DecodeOptions, FrameDecoder, Header, Leaf, Message,
    MessageTree, Transaction,
};
use proptest::prelude::*;

/// Any string, including tabs, newlines, backslashes, the word null and emoji.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9./:_ -]{0,12}",
        1 => "\\PC{0,8}",
        1 => prop::sample::select(vec!["", "null", "\t", "a\nb", "x\\ty", "😀✓", "@1;0;5;5,1"])
            .prop_map(str::to_owned),
    ]
}

/// PT1 writes times with a 4-digit year, so keep timestamps before 9999 in any zone.
fn timestamp() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..100_000,
        1_600_000_000_000u64..1_900_000_000_000,
        Just(4_102_444_800_123)
    ]
}

fn leaf() -> impl Strategy<Value = Leaf> {
    (text(), text(), text(), timestamp(), text())
        .prop_map(|(type_, name, status, ts, data)| Leaf::new(type_, name, status, ts, data))
}

fn message() -> impl Strategy<Value = Message> {
    let leaf_message = prop_oneof![
        leaf().prop_map(Message::Event),
        leaf().prop_map(Message::Heartbeat),
        leaf().prop_map(Message::Metric),
        leaf().prop_map(Message::Trace),
    ];
    leaf_message.prop_recursive(4, 40, 6, |inner| {
        (
            (text(), text(), text(), timestamp(), text()),
            0u64..10_000_000_000,
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|((type_, name, status, ts, data), duration_us, children)| {
                Message::Transaction(Transaction {
                    type_,
                    name,
                    status,
                    timestamp_ms: ts,
                    duration_us,
                    data,
                    children,
                })
            })
    })
}

fn tree() -> impl Strategy<Value = MessageTree> {
    (prop::collection::vec(text(), 10), message()).prop_map(|(h, root)| {
        let header = Header {
            domain: h[0].clone(),
            hostname: h[1].clone(),
            ip_address: h[2].clone(),
            thread_group_name: h[3].clone(),
            thread_id: h[4].clone(),
            thread_name: h[5].clone(),
            message_id: h[6].clone(),
            parent_message_id: h[7].clone(),
            root_message_id: h[8].clone(),
            session_token: h[9].clone(),
        };
        MessageTree::new(header, root)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn nt1_decode_of_encode_is_the_same_tree(tree in tree()) {
        let frame = nt1::encode_to_bytes(&tree);
        prop_assert_eq!(decode_frame(&frame, &DecodeOptions::default()).unwrap(), tree);
    }

    #[test]
    fn pt1_decode_of_encode_is_the_same_tree(tree in tree(), east in prop::bool::ANY) {
        let offset = if east { 8 * 3600 } else { 0 };
        let frame = pt1::encode_to_bytes(&tree, offset);
        let options = DecodeOptions { pt1_utc_offset_seconds: offset };
        prop_assert_eq!(decode_frame(&frame, &options).unwrap(), tree);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = ocelot_protocol::decode_stream(&bytes, &DecodeOptions::default());
        let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        let _ = decode_frame(&framed, &DecodeOptions::default());
    }

    #[test]
    fn decoding_nt1_bodies_with_random_tails_never_panics(
        tree in tree(),
        cut in 0usize..400,
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let frame = nt1::encode_to_bytes(&tree);
        let mut body = frame[4..frame.len().min(4 + cut)].to_vec();
        body.extend_from_slice(&tail);
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&body);
        let _ = decode_frame(&framed, &DecodeOptions::default());
    }
}

#[test]
fn a_million_nested_transactions_are_refused_without_overflowing_the_stack() {
    let mut body = b"NT1".to_vec();
    body.extend_from_slice(&[0; 10]);
    for _ in 0..1_000_000 {
        body.extend_from_slice(&[b't', 1, 1, b'a', 1, b'b']);
    }
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    let err = decode_frame(&frame, &DecodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
}

#[test]
fn a_huge_string_length_is_an_error_before_any_allocation() {
    // Header domain claims 2^62 bytes.
    let mut body = b"NT1".to_vec();
    body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    let err = decode_frame(&frame, &DecodeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn a_java_ten_byte_negative_varint_is_accepted() {
    let tree = MessageTree::new(
        Header::default(),
        Message::Event(Leaf::new("E", "n", "0", u64::MAX, "")),
    );
    let frame = nt1::encode_to_bytes(&tree);
    assert_eq!(
        decode_frame(&frame, &DecodeOptions::default()).unwrap(),
        tree
    );
    let mut decoder = FrameDecoder::default();
    assert_eq!(decoder.next_frame_len(&frame).unwrap(), Some(frame.len()));
}

/// CAT reads a PT1 duration with `Long.parseLong` and keeps a negative one (a client whose
/// clock stepped back); the frame is kept here too, each such transaction taking 0 µs.
#[test]
fn a_pt1_frame_with_negative_durations_decodes_with_them_at_zero() {
    let body =
        "PT1\tshop\thost1\t192.168.1.10\tmain\t1\tmain\tshop-c0a8010a-475544-0\tnull\tnull\tnull\n\
                t2024-04-01 16:00:00.123\tURL\t/api/order\t\n\
                A2024-04-01 16:00:00.128\tSQL\tOrder.select\t0\t-2500us\tSELECT 1\t\n\
                E2024-04-01 16:00:00.132\tOrder\tCreated\t0\tid=42\t\n\
                T2024-04-01 16:00:00.135\tURL\t/api/order\t0\t-1us\t\t\n";
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body.as_bytes());
    let tree = decode_frame(&frame, &DecodeOptions::default()).unwrap();
    let root = tree.root.as_transaction().unwrap();
    assert_eq!((root.name.as_str(), root.duration_us), ("/api/order", 0));
    assert_eq!(root.children.len(), 2);
    let sql = root.children[0].as_transaction().unwrap();
    assert_eq!((sql.name.as_str(), sql.duration_us), ("Order.select", 0));
    assert_eq!(sql.data, "SELECT 1");
    // The scan the collector runs first agrees with the decoder.
    assert!(scan_frame(&frame, &DecodeOptions::default()).is_ok());
}
