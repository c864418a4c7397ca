//! What retention says in the log. A test binary of its own: tracing caches whether a
//! callsite is logged, and a test on another thread meeting the same callsite while no
//! subscriber wanted it could leave it cached as never logged (CI lost "retention deleted"
//! lines so, twice).

mod common;

use common::{clock_hour, frame, open};
use ocelot_protocol::MessageId;
use ocelot_store::Store;

/// Runs `f` with this thread's log lines captured; returns its value and the lines.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (value, text)
}

/// A store folder that was a reused directory: the first start deleted every folder named
/// like a number older than the kept days (`2024/photos`, `17`) with everything in them,
/// and said nothing. Retention now deletes only the domain folders holding nothing but the
/// store's files (and an hour folder once empty), leaves anything else where it is, and
/// logs both.
#[test]
fn retention_deletes_only_what_the_store_wrote_and_says_what_it_deleted_and_left() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let now = clock_hour();
    // The store's own expired hours: one of only its files, one shared with a stranger.
    let ours = MessageId::new("shop", 1, now - 24 * 5, 1);
    let shared = MessageId::new("shop", 1, now - 24 * 6, 1);
    let store = open(root); // retention off
    for i in [&ours, &shared] {
        store.append(i, frame(i, 10)).unwrap();
        store
            .write_report(i.hour, "shop", "transaction", b"{}")
            .unwrap();
    }
    store
        .write_report(shared.hour, "cart", "event", b"{}")
        .unwrap();
    store.shutdown();
    drop(store);
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("2024/photos/a.jpg", "precious");
    write("17/notes.txt", "x");
    write("readme.txt", "y");
    write(&format!("{}/notes.txt", shared.hour), "mine");
    // A domain folder of the store's files and one more: kept whole, looked into no further.
    write(
        &format!("{}/cart/reports/event.report.bak", shared.hour),
        "{}",
    );
    // A symlink named like an hour leads out of the store folder: never followed.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("shop")).unwrap();
    std::fs::write(elsewhere.path().join("shop").join("messages.clean"), "z").unwrap();
    let link = now - 24 * 7;
    std::os::unix::fs::symlink(elsewhere.path(), root.join(link.to_string())).unwrap();

    let mut config = common::config(root);
    config.retention_days = 2;
    let (store, log) = logged(|| Store::open(config).unwrap());

    assert!(
        !root.join(ours.hour.to_string()).exists(),
        "the store's own hour is deleted"
    );
    let shared_dir = root.join(shared.hour.to_string());
    assert!(
        !shared_dir.join("shop").exists(),
        "its domain folder of store files is deleted"
    );
    for kept in [
        "2024/photos/a.jpg".to_owned(),
        "17/notes.txt".to_owned(),
        "readme.txt".to_owned(),
        format!("{}/notes.txt", shared.hour),
        format!("{}/cart/reports/event.report", shared.hour),
        format!("{}/cart/reports/event.report.bak", shared.hour),
    ] {
        assert!(root.join(&kept).is_file(), "{kept} was deleted");
    }
    assert!(elsewhere
        .path()
        .join("shop")
        .join("messages.clean")
        .is_file());
    assert!(root.join(link.to_string()).is_symlink());
    assert_eq!(store.stats().hours_deleted, 1);

    let deleted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retention deleted"))
        .collect();
    assert_eq!(deleted.len(), 1, "{log}");
    assert!(
        deleted[0].contains(" INFO ") && deleted[0].contains(&ours.hour.to_string()),
        "{log}"
    );
    let left: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("retention left"))
        .collect();
    assert_eq!(left.len(), 1, "{log}");
    assert!(left[0].contains(" WARN "), "{log}");
    // Folders named like an hour that never held the store's data are not its hours: the
    // start warns about the directory's strangers once, retention does not name them.
    assert!(left[0].contains(&format!("hours={}", shared.hour)), "{log}");
    assert_eq!(store.hours().unwrap(), [shared.hour], "{log}");
    // The next pass finds the same folders: said once, not every ten minutes.
    let ((), again) = logged(|| {
        store.apply_retention(now).unwrap();
    });
    assert!(!again.contains("retention"), "{again}");
}
