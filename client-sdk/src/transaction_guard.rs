//! [`TransactionGuard`]: an open transaction on this thread's tree; dropping it ends it.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Display;
use std::marker::PhantomData;

use crate::tree_builder::with_state;

/// An open transaction. Dropping the guard ends it (status success unless set); guards
/// opened inside it end with it at the latest.
///
/// The guard is tied to its thread's tree (it is neither `Send` nor `Sync`) and must not be
/// held across `.await`: use [`crate::in_transaction`] in async code (clippy flags it through
/// `await-holding-invalid-types`).
#[must_use = "dropping the guard ends the transaction at once; bind it: `let _t = transaction!(..)`"]
#[derive(Debug)]
pub struct TransactionGuard {
    /// The transaction's depth on the thread's stack; `None` when nothing is recorded.
    depth: Option<usize>,
    _not_send: PhantomData<*const ()>,
}

impl TransactionGuard {
    /// Opens a transaction (what `transaction!` expands to).
    pub fn start(type_: impl Into<Cow<'static, str>>, name: impl Into<Cow<'static, str>>) -> Self {
        let depth = with_state(|s| s.start_transaction(type_.into(), name.into())).flatten();
        TransactionGuard {
            depth,
            _not_send: PhantomData,
        }
    }

    /// Whether this transaction is being recorded (a client is configured).
    pub fn is_recording(&self) -> bool {
        self.depth.is_some()
    }

    /// Sets the status: `"0"` is success, anything else a failure.
    pub fn set_status(&self, status: impl Into<Cow<'static, str>>) {
        let Some(depth) = self.depth else { return };
        with_state(|s| {
            if let Some(record) = s.transaction_mut(depth) {
                record.status = status.into();
            }
        });
    }

    /// Appends `key=value` to the data (pairs joined with `&`, as CAT clients do).
    pub fn add_data(&self, key: impl Display, value: impl Display) {
        let Some(depth) = self.depth else { return };
        with_state(|s| s.add_data(depth, &key, &value));
    }

    /// Marks the transaction failed with the error's type name as status, and logs an `Error`
    /// event with the error and its `source()` chain.
    pub fn fail<E: Error + ?Sized>(&self, err: &E) {
        let Some(depth) = self.depth else { return };
        crate::macros::log_error(err);
        with_state(|s| {
            if let Some(record) = s.transaction_mut(depth) {
                record.status = Cow::Borrowed(std::any::type_name::<E>());
            }
        });
    }
}

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        if let Some(depth) = self.depth {
            with_state(|s| s.end_transaction(depth));
        }
    }
}
