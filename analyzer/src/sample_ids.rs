//! [`SampleIds`]: a problem's sample message IDs (up to 60) in about 8 bytes each.
//!
//! The trees behind one problem entry come from one machine, so their IDs share the domain
//! and the IP and differ only in hour and sequence number. Kept as [`SampleId`]s (32 bytes
//! each) a full list is 1.9 KiB, and a busy hour holds tens of thousands of them. Here the
//! list keeps the domain and IP of its first canonical ID once and, per ID with the same
//! two, just `(hour, seq)`; any other ID is kept whole on the side. The order is the order
//! of arrival either way, and in JSON it is the plain list of strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sample_id::{CanonicalText, SampleId, SharedText};

/// Message IDs in the order they were kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct SampleIds {
    /// Per ID: `(hour, seq)` of one with the common domain and IP, or `(OTHER, i)` for
    /// `others[i]`.
    slots: Vec<(u32, u32)>,
    /// Allocated with the first ID.
    side: Option<Box<Side>>,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Side {
    /// The domain and IP of the first canonical ID.
    common: Option<(SharedText, u32)>,
    /// IDs without the common domain and IP (or not canonical at all).
    others: Vec<SampleId>,
}

/// The `hour` of a slot that points into `others` (a canonical ID with this hour is kept
/// there too).
const OTHER: u32 = u32::MAX;

impl SampleIds {
    /// Whether the list holds `max` IDs, so that [`SampleIds::push_capped`] would keep no
    /// more: a caller checks this before it parses a tree's ID for the list.
    pub(crate) fn is_full(&self, max: usize) -> bool {
        self.slots.len() >= max
    }

    /// Appends `id` unless it is empty, already listed, or the list holds `max` IDs.
    pub(crate) fn push_capped(&mut self, id: &SampleId, max: usize) {
        if id.is_empty() || self.slots.len() >= max {
            return;
        }
        let side = self.side.get_or_insert_with(Box::default);
        if let Some((domain, ip, hour, seq)) = id.canonical_parts() {
            if hour != OTHER {
                let common = side.common.get_or_insert_with(|| (domain.clone(), ip));
                if **common.0 == ***domain && common.1 == ip {
                    if !self.slots.contains(&(hour, seq)) {
                        self.slots.push((hour, seq));
                    }
                    return;
                }
            }
        }
        if !side.others.contains(id) {
            let index = u32::try_from(side.others.len()).expect("at most `max` IDs");
            side.others.push(id.clone());
            self.slots.push((OTHER, index));
        }
    }

    /// Appends the IDs of `other` in order, as [`SampleIds::push_capped`] does one by one.
    pub(crate) fn merge_capped(&mut self, other: &SampleIds, max: usize) {
        for id in other.texts() {
            self.push_capped(&SampleId::new(&id), max);
        }
    }

    /// The IDs as the views show them.
    pub(crate) fn texts(&self) -> Vec<String> {
        let side = self.side.as_deref();
        self.slots
            .iter()
            .map(|&(hour, seq)| match side {
                Some(side) if hour == OTHER => side.others[seq as usize].to_string(),
                Some(Side {
                    common: Some((domain, ip)),
                    ..
                }) => CanonicalText::new(domain, *ip, hour, seq)
                    .as_str()
                    .to_owned(),
                _ => unreachable!("a slot always has its side"),
            })
            .collect()
    }
}

impl fmt::Debug for SampleIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.texts()).finish()
    }
}

impl Serialize for SampleIds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The plain list of `texts`, each written where it is needed instead of collected.
        let side = self.side.as_deref();
        serializer.collect_seq(self.slots.iter().map(|&(hour, seq)| match side {
            Some(side) if hour == OTHER => Either::Other(&side.others[seq as usize]),
            Some(Side {
                common: Some((domain, ip)),
                ..
            }) => Either::Common(CanonicalText::new(domain, *ip, hour, seq)),
            _ => unreachable!("a slot always has its side"),
        }))
    }
}

/// One ID of a [`SampleIds`] list as it serializes.
enum Either<'a> {
    Other(&'a SampleId),
    Common(CanonicalText),
}

impl Serialize for Either<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Either::Other(id) => id.serialize(serializer),
            Either::Common(text) => text.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for SampleIds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut ids = SampleIds::default();
        for id in Vec::<String>::deserialize(deserializer)? {
            ids.push_capped(&SampleId::new(&id), usize::MAX);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_in_order_whatever_their_form_and_repeats_and_overflow_are_dropped() {
        let ids = [
            "shop-c0a8010a-498703-42",
            "null",
            "shop-c0a8010a-498703-43",
            "shop-c0a80199-498703-42",
            "other-c0a8010a-498703-42",
            "shop-c0a8010a.7-498703-44",
            "shop-c0a8010a-498703-42",
            "",
            "shop-c0a8010a-4294967295-1",
            "null",
            "shop-c0a8010a-498704-0",
            "shop-c0a8010a-498704-1",
        ];
        let mut kept = SampleIds::default();
        for id in ids {
            kept.push_capped(&SampleId::new(id), 9);
        }
        let expected = [
            "shop-c0a8010a-498703-42",
            "null",
            "shop-c0a8010a-498703-43",
            "shop-c0a80199-498703-42",
            "other-c0a8010a-498703-42",
            "shop-c0a8010a.7-498703-44",
            "shop-c0a8010a-4294967295-1",
            "shop-c0a8010a-498704-0",
            "shop-c0a8010a-498704-1",
        ];
        assert_eq!(kept.texts(), expected);
        assert_eq!(kept.slots.len(), 9);
        kept.push_capped(&SampleId::new("shop-c0a8010a-498704-2"), 9);
        assert_eq!(kept.slots.len(), 9, "full");
        assert_eq!(kept.side.as_ref().unwrap().others.len(), 5);

        let json = serde_json::to_string(&kept).unwrap();
        assert_eq!(json, serde_json::to_string(&expected).unwrap());
        assert_eq!(serde_json::from_str::<SampleIds>(&json).unwrap(), kept);

        let mut merged = SampleIds::default();
        merged.push_capped(&SampleId::new("shop-c0a8010a-498703-43"), 60);
        merged.merge_capped(&kept, 60);
        assert_eq!(merged.texts()[0], "shop-c0a8010a-498703-43");
        assert_eq!(merged.slots.len(), 9, "the repeat is not added twice");
    }
}
