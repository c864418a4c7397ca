//! [`PendingIds`]: the IDs a domain-hour accepted that are not in an index file yet, for
//! the duplicate check every frame makes.
//!
//! A hash set of `(client, seq)` did it, a probe at a random place of a table of a few
//! thousand entries per domain-hour: a tenth of the writer thread's time outside
//! compression (perf). But clients number their trees one after another, so what is
//! pending of a client is nearly always one run of consecutive numbers: a run per client
//! (a handful per domain-hour, always in cache) answers most checks with two compares, and
//! only numbers that arrive out of order go to a set.

use crate::layout::ClientKey;
use crate::writer::{FastMap, FastSet};

/// A set of `(client, seq)` pairs, held as a run of consecutive numbers per client plus
/// the pairs outside those runs.
#[derive(Debug, Default)]
pub(crate) struct PendingIds {
    /// Per client, `first..end`: every number in it is held.
    runs: FastMap<ClientKey, (u64, u64)>,
    /// Held pairs outside their client's run (never inside it).
    others: FastSet<(ClientKey, u64)>,
}

impl PendingIds {
    /// Adds `(client, seq)`; false if it was held already.
    pub(crate) fn insert(&mut self, client: ClientKey, seq: u64) -> bool {
        if seq == u64::MAX {
            // No run can end past it.
            return self.others.insert((client, seq));
        }
        let Some(run) = self.runs.get_mut(&client) else {
            if self.others.contains(&(client, seq)) {
                return false;
            }
            self.runs.insert(client, (seq, seq + 1));
            return true;
        };
        if (run.0..run.1).contains(&seq) {
            return false;
        }
        let others = &mut self.others;
        // Held apart already? (Moved into the run either way.)
        let mut held_apart = |seq: u64| !others.is_empty() && others.remove(&(client, seq));
        if seq == run.1 {
            // The next number: the run grows, and takes the numbers held apart that now
            // follow it (they came early).
            let held = held_apart(seq);
            run.1 += 1;
            while run.1 < u64::MAX && held_apart(run.1) {
                run.1 += 1;
            }
            return !held;
        }
        if seq.checked_add(1) == Some(run.0) {
            let held = held_apart(seq);
            run.0 = seq;
            return !held;
        }
        self.others.insert((client, seq))
    }

    /// Whether `(client, seq)` is held.
    pub(crate) fn contains(&self, client: ClientKey, seq: u64) -> bool {
        self.runs
            .get(&client)
            .is_some_and(|run| (run.0..run.1).contains(&seq))
            || self.others.contains(&(client, seq))
    }

    /// Holds nothing, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
        self.others.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: u32) -> ClientKey {
        ClientKey { ip, pid: None }
    }

    #[test]
    fn answers_as_a_set_of_pairs_whatever_the_order() {
        let mut ids = PendingIds::default();
        let mut model = std::collections::HashSet::new();
        let mut rng = 0x1d5_u64;
        let mut next = [0u64; 3];
        for round in 0..20_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let ip = (rng % 3) as usize;
            let c = client(ip as u32);
            // Mostly each client's next number, sometimes a repeat, an old one or a jump.
            let seq = match rng >> 8 & 31 {
                0 => rng >> 20 & 63,
                1 => u64::MAX,
                2 => next[ip].saturating_sub(rng >> 24 & 3),
                3 => next[ip] + 5,
                _ => {
                    next[ip] += 1;
                    next[ip]
                }
            };
            assert_eq!(ids.insert(c, seq), model.insert((c, seq)), "{c:?} {seq}");
            let probe = (client((rng >> 30) as u32 % 3), rng >> 33 & 127);
            assert_eq!(ids.contains(probe.0, probe.1), model.contains(&probe));
            if round % 5_000 == 4_999 {
                // A stray number first after a clear takes its client's run: the rest wait
                // apart until the next clear (correct, only slower).
                let apart = ids.others.len();
                assert!(
                    apart < model.len() / 2,
                    "most pairs are in runs: {apart} apart"
                );
                ids.clear();
                model.clear();
            }
        }
    }
}
