//! What retention may delete in an expired hour folder: only what the store wrote there.
//!
//! The store folder may hold other things (a reused directory, `--data .`), and a folder
//! named like an hour is not always the store's: a user's `2024/photos` is one. So an hour
//! folder's entries are deleted only when each is a domain folder holding nothing but files
//! the store writes, named as [`crate::layout`] names them. Anything else (a file, a symlink,
//! a folder with one unknown entry) is left as it is, with the folders above it, and nothing
//! inside it is looked at. Files go one by one and folders with `remove_dir`, which removes
//! only empty ones: nothing here deletes recursively.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::layout::{validate_name, ClientKey, CLEAN_FILE, DATA_FILE, REPORTS_DIR, REPORT_EXT};

/// What deleting one hour folder did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HourSwept {
    /// The folder is gone: it held only the store's files, or nothing.
    Deleted,
    /// There was no such folder (any more).
    Gone,
    /// The folder stays: it holds these entries the store did not write (sorted), or is a
    /// symlink.
    Kept(Vec<String>),
}

/// Whether the hour folder `hour_dir` holds something the store wrote: a domain folder with
/// its data file or its reports folder. A user's folder named like an hour (`2024`) does
/// not, and is not one of the store's hours.
pub(crate) fn holds_store_data(hour_dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(hour_dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let domain = entry.path();
        entry
            .file_name()
            .to_str()
            .is_some_and(|n| validate_name("domain", n).is_ok())
            && (domain.join(DATA_FILE).is_file() || domain.join(REPORTS_DIR).is_dir())
    })
}

/// Deletes the store's domain folders in the hour folder `hour_dir`, then the folder if
/// nothing else is left in it. A symlink named like the hour is left alone (it is not a
/// folder the store made). Stops at the first error; what it deleted until then is gone.
pub(crate) fn sweep_hour(hour_dir: &Path) -> io::Result<HourSwept> {
    match fs::symlink_metadata(hour_dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Ok(HourSwept::Kept(
                vec!["(a symlink, not followed)".to_owned()],
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HourSwept::Gone),
        Err(e) => return Err(e),
    }
    let mut foreign = Vec::new();
    for entry in fs::read_dir(hour_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let domain = name.to_str().filter(|n| validate_name("domain", n).is_ok());
        let files = match domain {
            Some(_) if entry.file_type()?.is_dir() => store_files(&entry.path())?,
            _ => None,
        };
        match files {
            Some(files) => {
                for file in files {
                    gone(fs::remove_file(&file))?;
                }
                gone(fs::remove_dir(entry.path().join(REPORTS_DIR)))?;
                gone(fs::remove_dir(entry.path()))?;
            }
            None => foreign.push(name.to_string_lossy().into_owned()),
        }
    }
    if !foreign.is_empty() {
        foreign.sort();
        return Ok(HourSwept::Kept(foreign));
    }
    gone(fs::remove_dir(hour_dir))?;
    Ok(HourSwept::Deleted)
}

/// The files of the domain folder `dir` when every entry in it is one the store writes (its
/// data file, clean marker, index files, and a reports folder holding only report files);
/// `None` as soon as one is not.
fn store_files(dir: &Path) -> io::Result<Option<Vec<PathBuf>>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Ok(None);
        };
        let is_store_file =
            name == DATA_FILE || name == CLEAN_FILE || ClientKey::parse_file_name(&name).is_some();
        if kind.is_file() && is_store_file {
            files.push(entry.path());
        } else if kind.is_dir() && name == REPORTS_DIR {
            for report in fs::read_dir(entry.path())? {
                let report = report?;
                let is_report = report.file_name().to_str().is_some_and(is_report_file);
                if !report.file_type()?.is_file() || !is_report {
                    return Ok(None);
                }
                files.push(report.path());
            }
        } else {
            return Ok(None);
        }
    }
    Ok(Some(files))
}

/// Whether `name` is a file the store writes in a reports folder: `<name>.report`, its
/// temporary `.<name>.report.tmp`, or one set aside as `<name>.report.unreadable-<secs>`.
fn is_report_file(name: &str) -> bool {
    let suffix = format!(".{REPORT_EXT}");
    let report = |stem: &str| validate_name("report name", stem).is_ok();
    if let Some(stem) = name.strip_suffix(&suffix) {
        return report(stem);
    }
    if let Some(stem) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(&format!("{suffix}.tmp")))
    {
        return report(stem);
    }
    match name.split_once(&format!("{suffix}.unreadable-")) {
        Some((stem, secs)) => {
            report(stem) && !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The result of a deletion, where a path already gone is no error (a reports folder the
/// domain never had, say).
fn gone(deleted: io::Result<()>) -> io::Result<()> {
    match deleted {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_are_told_from_strangers() {
        for ours in [
            "transaction.report",
            ".transaction.report.tmp",
            "transaction.report.unreadable-1795330800",
        ] {
            assert!(is_report_file(ours), "{ours}");
        }
        for stranger in [
            "notes.txt",
            ".report",
            "..report.tmp",
            "transaction.report.unreadable-",
            "transaction.report.unreadable-12x",
            "transaction.report.bak",
            "transaction.report~",
        ] {
            assert!(!is_report_file(stranger), "{stranger}");
        }
    }
}
