//! Build script of the `ocelot` binary: the git commit it is built from, as the
//! `OCELOT_COMMIT` environment variable of the build, for `--version`, the start-up log line,
//! `ocelot status` and `/metrics`' `ocelot_build_info`. Every build said `ocelot 0.1.0`, so
//! after a rollout nobody could tell which binary ran where.
//!
//! The commit is git's short hash, with `+dirty` when tracked files differ from it. Without
//! git, or outside our own repository (a source tarball), it is `OCELOT_BUILD_COMMIT` from
//! the environment when a packager sets it, else `unknown`. Plain `std::process::Command`:
//! no dependency for this.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OCELOT_BUILD_COMMIT");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let commit = match std::env::var("OCELOT_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ => git_commit(&root).unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=OCELOT_COMMIT={commit}");
}

/// `abc1234` or `abc1234+dirty`; `None` without git or outside our repository.
fn git_commit(root: &Path) -> Option<String> {
    // A tarball unpacked inside some other repository would otherwise take its commit.
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    watch_git(root);
    watch_sources(root);
    let hash = git(root, &["rev-parse", "--short", "HEAD"])?;
    // Tracked files only: a stray untracked file is not in the binary.
    let changes = git(root, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changes.is_empty() {
        hash
    } else {
        format!("{hash}+dirty")
    })
}

/// Runs the script again when the commit can have changed: `HEAD` (a checkout, or a commit
/// on a detached head), the branch it points to (a commit), packed refs, and the index
/// (staged files). Asked of git, since in a worktree `.git` is a file naming another folder.
fn watch_git(root: &Path) {
    let mut paths = vec![
        "HEAD".to_owned(),
        "packed-refs".to_owned(),
        "index".to_owned(),
    ];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for name in paths {
        if let Some(path) = git(root, &["rev-parse", "--git-path", &name]) {
            watch(&root.join(path));
        }
    }
}

/// Runs the script again when a source of the binary changes, so that `+dirty` follows
/// edits not yet staged. These changes rebuild the binary anyway; the script costs two git
/// calls. The crates are found as folders holding a `Cargo.toml`, one or two levels down
/// (`client-sdk/macros`); not `fuzz`, which has a workspace of its own.
fn watch_sources(root: &Path) {
    for file in ["build.rs", "Cargo.toml", "Cargo.lock"] {
        watch(&root.join(file));
    }
    let mut crates = vec![root.to_owned()];
    let mut i = 0;
    while i < crates.len() {
        let depth = crates[i].strip_prefix(root).map_or(0, |p| p.iter().count());
        if depth < 2 {
            crates.extend(subfolders(&crates[i]));
        }
        i += 1;
    }
    for folder in crates {
        if folder.join("Cargo.toml").is_file() {
            watch(&folder.join("Cargo.toml"));
            watch(&folder.join("src"));
        }
    }
}

/// The folders in `dir`, less hidden ones, build output and the fuzz workspace.
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "target" && name != "fuzz"
        })
        .map(|e| e.path())
        .collect()
}

/// Watches `path` if it exists: cargo runs a script whose watched path is missing every time.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git -C root args...`, its output trimmed; `None` when git is missing or fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        // `status` would otherwise refresh the index, which `watch_git` watches.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}
