//! Misuse that must not compile: moving a guard to another thread, bad attribute arguments.

/// Compiling the cases builds a separate crate and its dependencies (one to three minutes cold on
/// a shared two-core machine), too slow for the default suite: run with `--ignored`.
#[test]
#[ignore = "builds a separate crate; run with `cargo test -p ocelot-client --test compile_fail -- --ignored`"]
fn misuse_is_rejected_at_compile_time() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
