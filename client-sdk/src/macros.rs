//! The recording macros and the functions they expand to.
//!
//! Names and types take anything `Into<Cow<'static, str>>`: a literal costs nothing, a
//! `format!(..)` string is moved in. Every macro is a no-op (and costs one thread-local
//! check) when the thread has no client.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Debug, Display, Write as _};
use std::ops::Deref;

use crate::metric_aggregator::Amount;
use crate::record::Kind;
use crate::tree_builder::{with_state, ThreadState, ERROR_STATUS};

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
/// type's short name, see below) and marks the enclosing transaction failed with status
/// `ERROR` (unless it already has a failure status). `TransactionGuard::fail` sets the error's
/// name as status instead.
///
/// `err` is a reference to an error, or to a pointer to one: `Box<dyn Error>` (with or
/// without `+ Send + Sync`), `Arc<dyn Error>`, `anyhow::Error`.
///
/// ```
/// use std::error::Error;
///
/// let err = std::io::Error::other("disk full");
/// ocelot_client::error!(&err);
/// let boxed: Box<dyn Error + Send + Sync> = "x".parse::<u32>().unwrap_err().into();
/// ocelot_client::error!(&boxed); // or &*boxed: the same
/// ```
///
/// The name is the error type without module path or generic arguments (`ParseIntError`,
/// `io::Error` for `std::io::Error`), whether the error came concrete or boxed: a boxed
/// error's type is read from its `Debug` output, which holds no more than that. A boxed
/// error that prints only a message (`"Order 17 not found".into()`) is named by its box
/// (`Box<dyn Error>`, `anyhow::Error`). `TransactionGuard::fail` and the
/// `#[attr::transaction]` status use the same name.
#[macro_export]
macro_rules! error {
    ($err:expr $(,)?) => {{
        #[allow(unused_imports)]
        use $crate::__private::{LogError as _, LogErrorBehind as _};
        (&&$crate::__private::ErrorArg($err)).__ocelot_log_error()
    }};
}

/// Counts a business metric: `metric_count!(name)` adds 1, `metric_count!(name, n)` adds n
/// (CAT status `C`).
///
/// Inside a transaction it is an `M` message in that tree. Outside any, it is added to the
/// client's metric aggregator, which sends all such metrics about once a second as one
/// `System/MetricAggregator` tree (status `C`, data the summed count), as CAT's clients do: a
/// hot counter costs an add under a lock its thread rarely shares, not a tree per call. A count
/// the collector would not read (not a whole number) is sent as a tree of its own instead.
///
/// ```
/// ocelot_client::metric_count!("order.created");
/// ocelot_client::metric_count!("order.items", 3);
/// ```
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
///
/// Inside a transaction it is an `M` message in that tree; outside any, a tree of its own.
/// Durations are not pre-aggregated: the collector counts a `T` metric once with its value and
/// charts the mean, and no aggregated form reads back that way (CAT's C client sends them as
/// `S,C`, charted as a sum). For a hot latency outside transactions, `metric_sum!(name, ms)`
/// is aggregated and keeps the mean computable (sum / count).
#[macro_export]
macro_rules! metric_duration {
    ($name:expr, $millis:expr $(,)?) => {
        $crate::__private::log_metric($name, "T", $millis)
    };
}

/// Records a sum metric: `metric_sum!(name, value)` (CAT status `S`), or
/// `metric_sum!(name, value, count)` for `count` items summing to `value` (status `S,C`,
/// data `count,sum`).
///
/// Inside a transaction it is an `M` message in that tree. Outside any, it is added to the
/// client's metric aggregator (see [`metric_count!`]) and sent about once a second as status
/// `S,C` with the summed count and sum: the collector's figures are the same as for the single
/// calls, though it labels a name first seen this way `S,C` rather than `S`. A value the
/// collector would not read (not a finite number) is sent as a tree of its own instead.
///
/// ```
/// ocelot_client::metric_sum!("order.amount", 99.5);
/// ocelot_client::metric_sum!("order.amount", 250, 2);
/// ```
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

/// Causes of an error written into its `Error` event's data. Real chains are a handful
/// deep; the bound only stops a `source()` chain that loops.
const MAX_ERROR_CAUSES: usize = 32;

/// Logs an `Error` event and fails the enclosing transaction (`error!`).
pub fn log_error<E: Error + ?Sized>(err: &E) {
    with_state(|s| log_error_in(s, err));
}

/// What `error!` is given: `&E` for an error `E`, or for a pointer to one. `error!` calls
/// `(&&ErrorArg(err)).__ocelot_log_error()`, and method resolution takes [`LogError`] when
/// `E` is an error, else [`LogErrorBehind`] when it points to one. `Box<dyn Error>` is not
/// an `Error` itself, so `error!(&boxed)` would not compile through [`log_error`] alone.
#[doc(hidden)]
pub struct ErrorArg<'a, E: ?Sized>(pub &'a E);

/// See [`ErrorArg`].
#[doc(hidden)]
pub trait LogError {
    fn __ocelot_log_error(&self);
}

impl<E: Error + ?Sized> LogError for &ErrorArg<'_, E> {
    fn __ocelot_log_error(&self) {
        log_error(self.0);
    }
}

/// See [`ErrorArg`].
#[doc(hidden)]
pub trait LogErrorBehind {
    fn __ocelot_log_error(&self);
}

impl<P, E> LogErrorBehind for ErrorArg<'_, P>
where
    P: Deref<Target = E> + ?Sized,
    E: Error + ?Sized,
{
    fn __ocelot_log_error(&self) {
        let err: &E = self.0;
        // Named by the pointer's type, so that a message-only error keeps its wrapper's name
        // (`anyhow::Error`), read through to the error inside.
        let name = name_for(std::any::type_name::<P>(), err);
        with_state(|s| log_error_named(s, err, name));
    }
}

/// [`log_error`] on this thread's state `s`, already borrowed.
pub(crate) fn log_error_in<E: Error + ?Sized>(s: &mut ThreadState, err: &E) {
    log_error_named(s, err, error_name(err));
}

/// [`log_error_in`] with the event's name given.
pub(crate) fn log_error_named<E: Error + ?Sized>(
    s: &mut ThreadState,
    err: &E,
    name: Cow<'static, str>,
) {
    if s.tree.depth() == 0 && s.client().is_none() {
        return;
    }
    let mut data = err.to_string();
    // At most `MAX_ERROR_CAUSES`: a `source()` chain that loops (an error that names
    // itself, or two that name each other) would otherwise never end, and grow `data`
    // until the host runs out of memory.
    let mut source = err.source();
    let mut causes = 0;
    while let Some(cause) = source {
        if causes == MAX_ERROR_CAUSES {
            data.push_str("\nCaused by: ...");
            break;
        }
        data.push_str("\nCaused by: ");
        data.push_str(&cause.to_string());
        source = cause.source();
        causes += 1;
    }
    s.log(
        Kind::Event,
        Cow::Borrowed("Error"),
        name,
        Cow::Borrowed(ERROR_STATUS),
        data,
    );
    s.fail_innermost(Cow::Borrowed(ERROR_STATUS));
}

/// Logs a metric with the given CAT status (`metric_count!`, `metric_duration!`, `metric_sum!`).
pub fn log_metric(name: impl Into<Cow<'static, str>>, status: &'static str, value: impl Display) {
    with_state(|s| {
        let mut name = name.into();
        if s.tree.depth() == 0 {
            if s.client().is_none() {
                return;
            }
            let amount = match status {
                "C" => Amount::count(&value),
                "S" => Amount::sum(&value),
                _ => None,
            };
            if let Some(amount) = amount {
                match s.aggregate_metric(name, amount) {
                    Ok(()) => return,
                    Err(refused) => name = refused,
                }
            }
        }
        s.log(
            Kind::Metric,
            Cow::Borrowed(""),
            name,
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
        let mut name = name.into();
        if s.tree.depth() == 0 {
            if s.client().is_none() {
                return;
            }
            if let Some(amount) = Amount::sum_count(&value, &count) {
                match s.aggregate_metric(name, amount) {
                    Ok(()) => return,
                    Err(refused) => name = refused,
                }
            }
        }
        s.log(
            Kind::Metric,
            Cow::Borrowed(""),
            name,
            Cow::Borrowed("S,C"),
            format!("{count},{value}"),
        );
    });
}

/// The name a failure is reported under: the error's type, as CAT clients name an exception
/// by its class. A type that says nothing about the error inside it (`dyn Error`,
/// `Box<dyn Error>`, `anyhow::Error`, `eyre::Report`) is named by the value instead: the
/// type its `Debug` output starts with (`ParseIntError { kind: InvalidDigit }` names
/// `ParseIntError`), as Sentry names such errors; otherwise the type's own name.
///
/// Always the short name, without module path or generic arguments (`ParseIntError`, not
/// `core::num::error::ParseIntError`; `Error` for `my_crate::Error<String>`), because a
/// boxed error's `Debug` output gives no more: one error type then has one name however
/// the code passed it along. `std::io::Error`, the commonest `Error`, is `io::Error` both
/// ways.
pub(crate) fn error_name<E: Debug + ?Sized>(err: &E) -> Cow<'static, str> {
    name_for(std::any::type_name::<E>(), err)
}

/// [`error_name`] of the error behind a pointer of type `P` (`TransactionGuard::fail`):
/// named by the pointer's type as `error!(&pointer)` names it (a message-only error in a
/// `Box<dyn Error>` is `Box<dyn Error>`), a reference as what it refers to (`&*boxed` names
/// as `error!(&*boxed)` does).
pub(crate) fn error_name_behind<P>(err: &P::Target) -> Cow<'static, str>
where
    P: Deref,
    P::Target: Error,
{
    let mut type_name = std::any::type_name::<P>();
    while let Some(inner) =
        (type_name.strip_prefix("&mut ")).or_else(|| type_name.strip_prefix('&'))
    {
        type_name = inner;
    }
    name_for(type_name, err)
}

/// [`error_name`] of `err`, reached through a value of type `type_name` (its own, or a
/// pointer's to it).
fn name_for<E: Debug + ?Sized>(type_name: &'static str, err: &E) -> Cow<'static, str> {
    let inner = pointee(type_name);
    if !names_no_type(inner) {
        return short_type_name(inner);
    }
    let mut debug = Bounded(String::new());
    // Cut off once it is longer than any name: the rest of the value is not needed.
    let _ = write!(debug, "{err:?}");
    match type_in_debug(&debug.0) {
        Some(IO_ERROR) => short_type_name(IO_ERROR),
        Some(name) => Cow::Owned(short_type_name(name).into_owned()),
        None if matches!(inner, "anyhow::Error" | "eyre::Report") => Cow::Borrowed(inner),
        // Nothing to match it with, so the wrapper itself, its paths shortened alike.
        None => Cow::Owned(without_paths(type_name)),
    }
}

/// The type behind references, `Box`, `Arc` and `Rc` in `type_name`: `Box<MyError>` is named
/// `MyError`, as its `Debug` output would say.
fn pointee(mut type_name: &'static str) -> &'static str {
    const POINTERS: [&str; 3] = ["alloc::boxed::Box<", "alloc::sync::Arc<", "alloc::rc::Rc<"];
    loop {
        let inner = type_name
            .strip_prefix("&mut ")
            .or_else(|| type_name.strip_prefix('&'))
            .or_else(|| {
                POINTERS.iter().find_map(|p| {
                    type_name
                        .strip_prefix(p)
                        .and_then(|rest| rest.strip_suffix('>'))
                })
            });
        match inner {
            Some(inner) => type_name = inner,
            None => return type_name,
        }
    }
}

/// `type_name` without its module path and generic arguments (see [`error_name`]). A type
/// that is no path (a tuple such as axum's `(StatusCode, String)`, an array, a reference)
/// keeps its shape and has each path in it shortened: cut at its last `::`, it would be a
/// fragment (`String)`).
fn short_type_name(type_name: &str) -> Cow<'_, str> {
    if type_name == IO_ERROR {
        return Cow::Borrowed("io::Error");
    }
    let base = type_name.split('<').next().unwrap_or(type_name);
    if base
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
    {
        return Cow::Borrowed(base.rsplit("::").next().unwrap_or(base));
    }
    Cow::Owned(without_paths(&without_generic_arguments(type_name)))
}

/// `type_name` without anything between `<` and its `>` (the `>` of a `->` is no bracket).
fn without_generic_arguments(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut depth = 0usize;
    let mut previous = ' ';
    for c in type_name.chars() {
        match c {
            '<' => depth += 1,
            '>' if previous != '-' && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
        previous = c;
    }
    out
}

/// `type_name` with every path cut to its last segment:
/// `alloc::boxed::Box<dyn core::error::Error>` becomes `Box<dyn Error>`.
fn without_paths(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut rest = type_name;
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at]);
        let segment_start = out
            .trim_end_matches(|c: char| c.is_alphanumeric() || c == '_')
            .len();
        out.truncate(segment_start);
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    out
}

/// Whether `type_name` is a wrapper whose type says nothing of the error it holds.
fn names_no_type(type_name: &str) -> bool {
    type_name.contains("dyn ") || matches!(type_name, "anyhow::Error" | "eyre::Report")
}

/// The type a derived `Debug` output starts with: `Name { .. }`, `Name(..)` or `Name`, the
/// name capitalised as Rust types and variants are. Anything else (a message, as
/// `anyhow::Error` prints) is `None`. `std::io::Error` prints its inner form (`Os { .. }`,
/// `Custom { .. }`, `Kind(..)`, `SimpleMessage { .. }`), named here as the type it is.
fn type_in_debug(debug: &str) -> Option<&str> {
    let end = debug
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(debug.len());
    let (name, rest) = debug.split_at(end);
    let capitalised = name
        .rsplit("::")
        .next()
        .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_uppercase()));
    if !capitalised || !(rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {")) {
        return None;
    }
    let io_error = match name {
        "Os" | "Custom" | "SimpleMessage" => rest.contains("kind: "),
        "Kind" => rest.starts_with('('),
        _ => false,
    };
    Some(if io_error { IO_ERROR } else { name })
}

/// `std::io::Error` as `type_name` spells it, which is what a concrete one is named.
const IO_ERROR: &str = "std::io::error::Error";

/// A `String` that takes no more than [`NAME_LIMIT`] bytes and then refuses the rest.
struct Bounded(String);

/// Longer than any type name worth keeping whole.
const NAME_LIMIT: usize = 256;

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = NAME_LIMIT.saturating_sub(self.0.len());
        if s.len() <= room {
            self.0.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.0.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

/// What `#[attr::transaction]` asks of a function's result: the status its transaction ends
/// with when the result is a failure. The macro calls `(&&&StatusOf(&output))
/// .__ocelot_status()`, and method resolution takes the first of three that applies:
/// [`DebugResultStatus`] for a `Result` whose error is `Debug` (named by [`error_name`],
/// which reads the value when the type is a `Box<dyn Error>` or the like), [`ResultStatus`]
/// for any other `Result` (the error type's name), and [`NoStatus`] for everything else,
/// which says nothing.
#[doc(hidden)]
pub struct StatusOf<'a, R>(pub &'a R);

/// See [`StatusOf`].
#[doc(hidden)]
pub trait DebugResultStatus {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>>;
}

impl<T, E: Debug> DebugResultStatus for &&StatusOf<'_, Result<T, E>> {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>> {
        self.0.as_ref().err().map(|err| error_name(err))
    }
}

/// See [`StatusOf`].
#[doc(hidden)]
pub trait ResultStatus {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>>;
}

impl<T, E> ResultStatus for &StatusOf<'_, Result<T, E>> {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>> {
        self.0
            .as_ref()
            .err()
            .map(|_| short_type_name(pointee(std::any::type_name::<E>())))
    }
}

/// See [`StatusOf`]: results that are not a `Result` say nothing.
#[doc(hidden)]
pub trait NoStatus {
    fn __ocelot_status(&self) -> Option<Cow<'static, str>> {
        None
    }
}

impl<R> NoStatus for StatusOf<'_, R> {}

/// Marks the innermost open transaction on this thread failed with `status`, unless the
/// application gave it a failure status already.
#[doc(hidden)]
pub fn fail_innermost(status: Cow<'static, str>) {
    with_state(|s| s.fail_innermost(status));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Timeout {
        #[allow(dead_code)]
        after_ms: u64,
    }

    impl Display for Timeout {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "timed out")
        }
    }

    impl Error for Timeout {}

    #[test]
    fn a_concrete_error_is_named_by_its_type() {
        assert_eq!(
            error_name(&"x".parse::<u32>().unwrap_err()),
            "ParseIntError"
        );
        assert_eq!(error_name(&Timeout { after_ms: 5 }), "Timeout");
    }

    /// `error!(&concrete)` named the Error event `core::num::error::ParseIntError` and
    /// `error!(&*boxed)` named it `ParseIntError`: one failure, two rows in the reports.
    #[test]
    fn an_error_has_the_same_name_boxed_or_not() {
        let concrete = "x".parse::<u32>().unwrap_err();
        let boxed: Box<dyn Error + Send + Sync> = Box::new(concrete.clone());
        assert_eq!(error_name(&concrete), error_name(&*boxed));
        let io = || std::io::Error::other("disk on fire");
        let boxed_io: Box<dyn Error> = Box::new(io());
        assert_eq!(error_name(&io()), "io::Error");
        assert_eq!(error_name(&*boxed_io), "io::Error");

        #[derive(Debug)]
        struct Generic<T>(#[allow(dead_code)] T);
        let boxed_generic: Box<dyn Debug> = Box::new(Generic(1u8));
        assert_eq!(error_name(&Generic(String::new())), "Generic");
        assert_eq!(error_name(&*boxed_generic), "Generic");
        assert_eq!(error_name(&Box::new(Generic(2u8))), "Generic");
        assert_eq!(error_name(&&concrete), "ParseIntError");
    }

    #[test]
    fn a_type_that_is_no_path_keeps_its_shape_with_short_names() {
        assert_eq!(
            short_type_name("(http::status::StatusCode, alloc::string::String)"),
            "(StatusCode, String)"
        );
        assert_eq!(
            short_type_name("(u16, alloc::vec::Vec<alloc::string::String>)"),
            "(u16, Vec)"
        );
        assert_eq!(short_type_name("[u8; 4]"), "[u8; 4]");
        assert_eq!(
            short_type_name("fn(u8) -> core::option::Option<u8>"),
            "fn(u8) -> Option"
        );
        assert_eq!(
            short_type_name("my_app::Error<alloc::string::String>"),
            "Error"
        );
        assert_eq!(short_type_name("()"), "()");
    }

    #[test]
    fn paths_are_cut_to_their_last_segment() {
        assert_eq!(
            without_paths("alloc::boxed::Box<dyn core::error::Error + core::marker::Send>"),
            "Box<dyn Error + Send>"
        );
        assert_eq!(without_paths("Plain"), "Plain");
    }

    #[test]
    fn a_boxed_error_is_named_by_the_type_inside() {
        let parse: Box<dyn Error + Send + Sync> = Box::new("x".parse::<u32>().unwrap_err());
        assert_eq!(error_name(&parse), "ParseIntError");
        assert_eq!(error_name(&*parse), "ParseIntError");
        let timeout: Box<dyn Error> = Box::new(Timeout { after_ms: 5 });
        assert_eq!(error_name(&timeout), "Timeout");
        for io in [
            std::io::Error::from(std::io::ErrorKind::NotFound),
            std::io::Error::other("disk on fire"),
            std::io::Error::from_raw_os_error(2),
        ] {
            let boxed: Box<dyn Error> = Box::new(io);
            assert_eq!(error_name(&boxed), "io::Error", "{boxed:?}");
        }
    }

    #[test]
    fn a_boxed_message_keeps_the_wrapper_type() {
        // A `Box<dyn Error>` made from a string prints the quoted text: no type to name.
        let message: Box<dyn Error> = "Order 17 not found".into();
        assert_eq!(error_name(&message), "Box<dyn Error>");
    }

    #[test]
    fn only_a_derived_debug_shape_names_a_type() {
        assert_eq!(type_in_debug("Timeout { after_ms: 5 }"), Some("Timeout"));
        assert_eq!(type_in_debug("Refused(503)"), Some("Refused"));
        assert_eq!(type_in_debug("Closed"), Some("Closed"));
        assert_eq!(type_in_debug("db::Error { code: 1 }"), Some("db::Error"));
        assert_eq!(type_in_debug("Kind(NotFound)"), Some(IO_ERROR));
        // Messages, as anyhow::Error prints them, and lower-case words name nothing.
        assert_eq!(
            type_in_debug("No such file or directory (os error 2)"),
            None
        );
        assert_eq!(type_in_debug("connection reset"), None);
        assert_eq!(type_in_debug("\"boom\""), None);
        assert_eq!(type_in_debug(""), None);
        // A user's own variant named like io::Error's inner forms stays itself.
        assert_eq!(type_in_debug("Custom(7)"), Some("Custom"));
    }

    #[test]
    fn a_long_debug_output_is_cut_at_the_limit() {
        let mut out = Bounded(String::new());
        let long = "é".repeat(NAME_LIMIT);
        assert!(write!(out, "{long}").is_err());
        assert!(out.0.len() <= NAME_LIMIT && out.0.len() >= NAME_LIMIT - 1);
    }
}
