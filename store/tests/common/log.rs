//! Log lines captured in a test binary whose tests look at what the store logs. Lines of
//! the writer threads are caught only by a global subscriber, so such a binary's tests run
//! one at a time ([`start`]) to tell their lines apart. Only for binaries of their own: a
//! test elsewhere in the binary could leave a callsite cached as never logged.

use std::io;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The lines logged since the running test started.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

#[derive(Clone, Copy)]
struct LogWriter;

impl io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts a test: the log captured from here on, the other tests of this binary held off.
pub fn start() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    static SUBSCRIBER: OnceLock<()> = OnceLock::new();
    SUBSCRIBER.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    LOG.lock().unwrap().clear();
    guard
}

pub fn logged() -> String {
    String::from_utf8(LOG.lock().unwrap().clone()).unwrap()
}
