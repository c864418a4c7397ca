//! [`TransactionGuard`]: an open transaction on this thread's tree; dropping it ends it.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Display;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::open_transaction::OpenTransaction;
use crate::tree_builder::{with_state, OpenRef, PANIC_STATUS};

/// An open transaction. Dropping the guard ends it (status success unless set); guards
/// opened inside it end with it at the latest. A panic unwinding through the guard ends the
/// transaction with status `panic` (unless a failure status was already set), as CAT's Java
/// client marks a transaction with the exception that escaped it.
///
/// The guard is tied to its thread's tree (it is neither `Send` nor `Sync`) and must not be
/// held across `.await`: use [`crate::in_transaction`] in async code. For a synchronous step
/// inside an async function, end the guard in a block of its own (`{ let t = transaction!(..);
/// t.add_data(..); }`): once the guard was borrowed, `drop(t)` before an `.await` is not enough
/// for the compiler, and the future is not `Send`. Clippy can catch a guard
/// held across `.await`, but only if your project lists it in `clippy.toml`
/// (`await-holding-invalid-types = ["ocelot_client::TransactionGuard"]`; the
/// `await_holding_invalid_type` lint is on by default); the compiler alone says nothing
/// unless the future must be `Send`.
#[must_use = "dropping the guard ends the transaction at once; bind it: `let _t = transaction!(..)`"]
#[derive(Debug)]
pub struct TransactionGuard {
    /// The transaction on the thread's stack; `None` when nothing is recorded.
    open: Option<OpenRef>,
    /// Whether the thread was already unwinding at the start: a guard used inside a `Drop`
    /// that runs during a panic is not itself ended by that panic.
    started_panicking: bool,
    _not_send: PhantomData<*const ()>,
}

impl TransactionGuard {
    /// Opens a transaction (what `transaction!` expands to).
    pub fn start(type_: impl Into<Cow<'static, str>>, name: impl Into<Cow<'static, str>>) -> Self {
        let open = with_state(|s| s.start_transaction(type_.into(), name.into())).flatten();
        TransactionGuard {
            open,
            started_panicking: open.is_some() && std::thread::panicking(),
            _not_send: PhantomData,
        }
    }

    /// Whether this transaction is being recorded: a client is configured, and the
    /// transaction has not ended with a transaction around it (whose guard was dropped
    /// first). Once it says `false`, `set_status`, `add_data` and `fail` change nothing.
    pub fn is_recording(&self) -> bool {
        self.open
            .is_some_and(|open| OpenTransaction::new(open).is_recording())
    }

    /// Sets the status: `"0"` is success, anything else a failure.
    pub fn set_status(&self, status: impl Into<Cow<'static, str>>) {
        let Some(open) = self.open else { return };
        OpenTransaction::new(open).set_status(status);
    }

    /// Appends `key=value` to the data (pairs joined with `&`, as CAT clients do).
    pub fn add_data(&self, key: impl Display, value: impl Display) {
        let Some(open) = self.open else { return };
        OpenTransaction::new(open).add_data(key, value);
    }

    /// Marks the transaction failed with the error's type name as status (its short name, as
    /// for [`crate::error!`]), and logs an `Error` event with the error and its `source()`
    /// chain.
    ///
    /// `err` is a reference to an error, or an owning pointer to one, given away: a
    /// `Box<dyn Error>` (with or without `+ Send + Sync`), an `Arc<dyn Error>`, an
    /// `anyhow::Error`. To keep a boxed error (to return it after), pass the error inside it,
    /// `guard.fail(&*boxed)`: Rust cannot take `&boxed` here, because `Box<dyn Error>` is no
    /// `Error` itself and a method cannot choose between "an error" and "a pointer to one" by
    /// type (the [`crate::error!`] macro can, and takes `&boxed`).
    ///
    /// ```
    /// use std::error::Error;
    /// use ocelot_client::transaction;
    ///
    /// fn place_order() -> Result<(), Box<dyn Error + Send + Sync>> {
    ///     Err("card declined".into())
    /// }
    ///
    /// let t = transaction!("URL", "/api/order");
    /// if let Err(err) = place_order() {
    ///     t.fail(err); // or, to keep `err`: t.fail(&*err)
    /// }
    /// let io = std::io::Error::other("disk full");
    /// t.fail(&io);
    /// ```
    pub fn fail<P>(&self, err: P)
    where
        P: Deref,
        P::Target: Error,
    {
        let Some(open) = self.open else { return };
        OpenTransaction::new(open).fail(err);
    }
}

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        let Some(open) = self.open else { return };
        let unwinding = std::thread::panicking() && !self.started_panicking;
        with_state(|s| {
            if unwinding {
                s.fail_transaction(open, Cow::Borrowed(PANIC_STATUS));
            }
            s.end_transaction(open);
        });
    }
}
