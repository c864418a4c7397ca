//! Declares the `loom` cfg so `--cfg loom` builds (model checking) pass `unexpected_cfgs`.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
