//! The recording macros and the functions they expand to.
//!
//! Names and types take anything `Into<Cow<'static, str>>`: a literal costs nothing, a
//! `format!(..)` string is moved in. Every macro is a no-op (and costs one thread-local
//! check) when the thread has no client.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::Display;

use crate::record::Kind;
use crate::tree_builder::{with_state, ERROR_STATUS};

/// Opens a transaction and returns its [`TransactionGuard`](crate::TransactionGuard); the
/// transaction ends when the guard drops.
///
/// ```
/// let _t = ocelot_client::transaction!("URL", "/api/order");
/// let id = 42;
/// let sql = ocelot_client::transaction!("SQL", format!("OrderDao.load{id}"));
/// sql.add_data("id", id);
/// ```
#[macro_export]
macro_rules! transaction {
    ($type_:expr, $name:expr $(,)?) => {
        $crate::TransactionGuard::start($type_, $name)
    };
}

/// Logs an event into the open transaction (or as a tree of its own).
///
/// `event!(type, name)` is a success; `event!(type, name, status)` and
/// `event!(type, name, status, data)` set the status and data.
///
/// ```
/// ocelot_client::event!("Cache.redis", "order:get");
/// ocelot_client::event!("Order", "rejected", "FAIL", "reason=stock");
/// ```
#[macro_export]
macro_rules! event {
    ($type_:expr, $name:expr $(,)?) => {
        $crate::__private::log_event($type_, $name, "0", ::std::string::String::new())
    };
    ($type_:expr, $name:expr, $status:expr $(,)?) => {
        $crate::__private::log_event($type_, $name, $status, ::std::string::String::new())
    };
    ($type_:expr, $name:expr, $status:expr, $data:expr $(,)?) => {
        $crate::__private::log_event($type_, $name, $status, $data)
    };
}

/// Logs an `Error` event for `&err` (data: the error and its `source()` chain; name: its
/// type) and marks the enclosing transaction failed.
///
/// ```
/// let err = std::io::Error::other("disk full");
/// ocelot_client::error!(&err);
/// ```
#[macro_export]
macro_rules! error {
    ($err:expr $(,)?) => {
        $crate::__private::log_error($err)
    };
}

/// Counts a business metric: `metric_count!(name)` adds 1, `metric_count!(name, n)` adds n
/// (CAT status `C`).
#[macro_export]
macro_rules! metric_count {
    ($name:expr $(,)?) => {
        $crate::__private::log_metric($name, "C", 1u64)
    };
    ($name:expr, $count:expr $(,)?) => {
        $crate::__private::log_metric($name, "C", $count)
    };
}

/// Records a duration metric in milliseconds (CAT status `T`).
#[macro_export]
macro_rules! metric_duration {
    ($name:expr, $millis:expr $(,)?) => {
        $crate::__private::log_metric($name, "T", $millis)
    };
}

/// Records a sum metric: `metric_sum!(name, value)` (CAT status `S`), or
/// `metric_sum!(name, value, count)` for `count` items summing to `value` (status `S,C`,
/// data `count,sum`).
#[macro_export]
macro_rules! metric_sum {
    ($name:expr, $value:expr $(,)?) => {
        $crate::__private::log_metric($name, "S", $value)
    };
    ($name:expr, $value:expr, $count:expr $(,)?) => {
        $crate::__private::log_metric_sum_count($name, $value, $count)
    };
}

/// Logs an event (`event!`).
pub fn log_event(
    type_: impl Into<Cow<'static, str>>,
    name: impl Into<Cow<'static, str>>,
    status: impl Into<Cow<'static, str>>,
    data: impl Into<String>,
) {
    with_state(|s| {
        s.log(
            Kind::Event,
            type_.into(),
            name.into(),
            status.into(),
            data.into(),
        )
    });
}

/// Logs an `Error` event and fails the enclosing transaction (`error!`).
pub fn log_error<E: Error + ?Sized>(err: &E) {
    with_state(|s| {
        if s.tree.depth() == 0 && s.client().is_none() {
            return;
        }
        let mut data = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            data.push_str("\nCaused by: ");
            data.push_str(&cause.to_string());
            source = cause.source();
        }
        s.log(
            Kind::Event,
            Cow::Borrowed("Error"),
            Cow::Borrowed(std::any::type_name::<E>()),
            Cow::Borrowed(ERROR_STATUS),
            data,
        );
        s.fail_innermost(Cow::Borrowed(ERROR_STATUS));
    });
}

/// Logs a metric with the given CAT status (`metric_count!`, `metric_duration!`, `metric_sum!`).
pub fn log_metric(name: impl Into<Cow<'static, str>>, status: &'static str, value: impl Display) {
    with_state(|s| {
        if s.tree.depth() == 0 && s.client().is_none() {
            return;
        }
        s.log(
            Kind::Metric,
            Cow::Borrowed(""),
            name.into(),
            Cow::Borrowed(status),
            value.to_string(),
        );
    });
}

/// Logs an `S,C` metric (`metric_sum!` with a count).
pub fn log_metric_sum_count(
    name: impl Into<Cow<'static, str>>,
    value: impl Display,
    count: impl Display,
) {
    with_state(|s| {
        if s.tree.depth() == 0 && s.client().is_none() {
            return;
        }
        s.log(
            Kind::Metric,
            Cow::Borrowed(""),
            name.into(),
            Cow::Borrowed("S,C"),
            format!("{count},{value}"),
        );
    });
}

/// What `#[attr::transaction]` asks of a function's result: the status its transaction ends
/// with when the result is a failure. Implemented for `Result` (an `Err` is the error type's
/// name, as `TransactionGuard::fail` names it); every other type goes to [`NoStatus`], picked
/// by method resolution when this one does not apply (the call is `(&output).status()`).
#[doc(hidden)]
pub trait ResultStatus {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>>;
}

impl<T, E> ResultStatus for Result<T, E> {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>> {
        self.as_ref()
            .err()
            .map(|_| Cow::Borrowed(std::any::type_name::<E>()))
    }
}

/// See [`ResultStatus`]: results that are not a `Result` say nothing.
#[doc(hidden)]
pub trait NoStatus {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>> {
        None
    }
}

impl<T: ?Sized> NoStatus for &T {}

/// Marks the innermost open transaction on this thread failed with `status`, unless the
/// application gave it a failure status already.
#[doc(hidden)]
pub fn fail_innermost(status: Cow<'static, str>) {
    with_state(|s| s.fail_innermost(status));
}
