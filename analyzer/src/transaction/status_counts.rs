//! [`StatusCounts`]: how often each failure status was seen by one transaction name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cardinality::truncate_chars;
use crate::config::OTHERS;
use crate::frugal_vec::ThinList;

/// Failure statuses and their counts, sorted by status.
///
/// A name usually sees one or two distinct failure statuses, and a busy hour holds hundreds
/// of thousands of names (one per machine, type and name). A `BTreeMap` allocates a whole
/// node for its first key (about 370 bytes for `String` keys and `u64` counts); this list
/// costs 24 bytes per status plus the status text. Most names never fail, so the list is
/// boxed and allocated with the first failure: a name that never fails pays 8 bytes here,
/// not a 24-byte empty `Vec`. Serialized as the map it was, so checkpoints do not change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, u64>", into = "BTreeMap<String, u64>")]
pub(crate) struct StatusCounts(ThinList<Counted>);

/// A status and how often it was seen.
type Counted = (Box<str>, u64);

impl From<BTreeMap<String, u64>> for StatusCounts {
    fn from(map: BTreeMap<String, u64>) -> Self {
        let list: Vec<_> = map.into_iter().map(|(k, v)| (k.into(), v)).collect();
        StatusCounts(list.into())
    }
}

impl From<StatusCounts> for BTreeMap<String, u64> {
    fn from(counts: StatusCounts) -> Self {
        counts.to_map()
    }
}

impl StatusCounts {
    /// Adds `n` for `status` (cut to `max_chars`). A new status past `max_len` statuses is
    /// counted under `OTHERS` and `folded` goes up by one.
    pub(crate) fn add(
        &mut self,
        status: &str,
        n: u64,
        max_len: usize,
        max_chars: usize,
        folded: &mut u64,
    ) {
        let status = truncate_chars(status, max_chars);
        let status = match self.position(status) {
            Ok(pos) => return self.bump(pos, n),
            Err(_) if self.0.len() >= max_len => {
                *folded += 1;
                OTHERS
            }
            Err(_) => status,
        };
        match self.position(status) {
            Ok(pos) => self.bump(pos, n),
            Err(pos) => self.0.insert(pos, (status.into(), n)),
        }
    }

    fn position(&self, status: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(s, _)| (**s).cmp(status))
    }

    fn bump(&mut self, pos: usize, n: u64) {
        let counted = &mut self.0.as_mut_slice()[pos];
        counted.1 = counted.1.saturating_add(n);
    }

    /// Adds every count of `other` (merging never folds, as for report keys).
    pub(crate) fn merge(&mut self, other: &StatusCounts) {
        for (status, n) in other.0.iter() {
            self.add(status, *n, usize::MAX, usize::MAX, &mut 0);
        }
    }

    /// The counts as the JSON API shows them.
    pub(crate) fn to_map(&self) -> BTreeMap<String, u64> {
        self.0.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_sorted_fold_past_the_cap_and_serialize_as_a_map() {
        let mut counts = StatusCounts::default();
        let mut folded = 0;
        for status in ["timeout", "ERROR", "timeout", "refused", "500", "ERROR"] {
            counts.add(status, 1, 3, 100, &mut folded);
        }
        let expected: BTreeMap<String, u64> =
            [("ERROR", 2), ("OTHERS", 1), ("refused", 1), ("timeout", 2)]
                .into_iter()
                .map(|(s, n)| (s.to_owned(), n))
                .collect();
        assert_eq!(counts.to_map(), expected);
        assert_eq!(folded, 1, "only the fourth distinct status folds");
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"ERROR":2,"OTHERS":1,"refused":1,"timeout":2}"#);
        assert_eq!(serde_json::from_str::<StatusCounts>(&json).unwrap(), counts);

        let mut merged = StatusCounts::default();
        merged.merge(&counts);
        merged.merge(&counts);
        assert_eq!(merged.to_map()["timeout"], 4);
        assert_eq!(merged.to_map().len(), 4);

        let none = StatusCounts::default();
        assert_eq!(std::mem::size_of_val(&none), 8, "a name that never fails");
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<StatusCounts>("{}").unwrap(), none);
    }
}
