//! Where everything lives under the store folder, and the checks that keep untrusted
//! strings (domains from message IDs, report names) from escaping it.
//!
//! ```text
//! <dir>/<hour>/<domain>/messages.dat            data file (block records)
//! <dir>/<hour>/<domain>/messages.clean          clean-close marker: u64 BE data file length
//! <dir>/<hour>/<domain>/<iphex>[.<pid>].idx     index file per client IP (and pid)
//! <dir>/<hour>/<domain>/reports/<name>.report   opaque report bytes (collector: JSON)
//! ```

use std::path::{Path, PathBuf};

use ocelot_protocol::MessageId;

use crate::error::StoreError;

/// Longest domain or report name accepted, in bytes (the protocol's rule for domains).
pub const MAX_NAME_BYTES: usize = ocelot_protocol::names::MAX_DOMAIN_BYTES;

/// File name of a domain-hour's data file.
pub(crate) const DATA_FILE: &str = "messages.dat";
/// File name of a domain-hour's clean-close marker.
pub(crate) const CLEAN_FILE: &str = "messages.clean";
/// Extension of index files.
pub(crate) const INDEX_EXT: &str = "idx";
/// Folder of reports inside a domain-hour folder.
pub(crate) const REPORTS_DIR: &str = "reports";
/// Extension of report files.
pub(crate) const REPORT_EXT: &str = "report";

/// Checks that `value` can be used as one path component: the protocol's rule for
/// domains ([`ocelot_protocol::names::domain_problem`]), so NUL and other control bytes,
/// path separators and names starting with `.` are refused.
pub fn validate_name(what: &'static str, value: &str) -> Result<(), StoreError> {
    match ocelot_protocol::names::domain_problem(value) {
        None => Ok(()),
        Some(reason) => {
            let mut end = value.len().min(200);
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            Err(StoreError::InvalidName {
                what,
                value: value[..end].to_owned(),
                reason,
            })
        }
    }
}

/// The client key of an index file: IP and optional pid, both numbers, so always safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientKey {
    pub(crate) ip: u32,
    pub(crate) pid: Option<u32>,
}

impl ClientKey {
    pub(crate) fn of(id: &MessageId) -> ClientKey {
        ClientKey {
            ip: id.ip,
            pid: id.pid,
        }
    }

    pub(crate) fn file_name(self) -> String {
        match self.pid {
            Some(pid) => format!("{:08x}.{pid}.{INDEX_EXT}", self.ip),
            None => format!("{:08x}.{INDEX_EXT}", self.ip),
        }
    }

    /// Parses an index file name back; `None` for anything we did not write.
    pub(crate) fn parse_file_name(name: &str) -> Option<ClientKey> {
        let stem = name.strip_suffix(".idx")?;
        let (ip_hex, pid) = match stem.split_once('.') {
            Some((ip, pid)) => (ip, Some(pid)),
            None => (stem, None),
        };
        if ip_hex.len() != 8 || !ip_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let ip = u32::from_str_radix(ip_hex, 16).ok()?;
        let pid = match pid {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse().ok()?)
            }
            Some(_) => return None,
            None => None,
        };
        let key = ClientKey { ip, pid };
        (key.file_name() == name).then_some(key)
    }
}

/// Paths under the store folder.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn hour_dir(&self, hour: u64) -> PathBuf {
        self.root.join(hour.to_string())
    }

    /// The domain-hour folder; `domain` must have passed [`validate_name`].
    pub(crate) fn domain_dir(&self, hour: u64, domain: &str) -> PathBuf {
        self.hour_dir(hour).join(domain)
    }

    pub(crate) fn report_path(&self, hour: u64, domain: &str, name: &str) -> PathBuf {
        self.domain_dir(hour, domain)
            .join(REPORTS_DIR)
            .join(format!("{name}.{REPORT_EXT}"))
    }
}

/// Parses an hour folder name (decimal digits only, canonical form): the hour a folder of
/// the store folder would hold, `None` for any other name.
pub fn parse_hour(name: &str) -> Option<u64> {
    let hour: u64 = name.parse().ok()?;
    (hour.to_string() == name).then_some(hour)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_store_folder_are_rejected() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            ".hidden",
            "tab\there",
            "new\nline",
            "caf\u{e9}",
            long.as_str(),
        ] {
            assert!(validate_name("domain", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ordinary_domains_are_accepted() {
        let longest = "a".repeat(MAX_NAME_BYTES);
        for good in [
            "shop",
            "order-service",
            "my_app.v2",
            "A B",
            "x..y",
            longest.as_str(),
        ] {
            validate_name("domain", good).unwrap();
        }
    }

    #[test]
    fn index_file_names_roundtrip_and_strangers_are_ignored() {
        for key in [
            ClientKey {
                ip: 0xc0a8_010a,
                pid: None,
            },
            ClientKey {
                ip: 0,
                pid: Some(0),
            },
            ClientKey {
                ip: u32::MAX,
                pid: Some(u32::MAX),
            },
        ] {
            assert_eq!(ClientKey::parse_file_name(&key.file_name()), Some(key));
        }
        for stranger in [
            "c0a8010a.idx.tmp",
            "C0A8010A.idx",
            "c0a8010a.01.idx",
            "x.idx",
            "c0a8010a..idx",
        ] {
            assert_eq!(ClientKey::parse_file_name(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn hour_folders_must_be_canonical_decimal() {
        assert_eq!(parse_hour("498703"), Some(498_703));
        assert_eq!(parse_hour("0498703"), None);
        assert_eq!(parse_hour("+1"), None);
        assert_eq!(parse_hour("tmp"), None);
    }
}
