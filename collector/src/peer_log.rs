//! [`PeerLog`]: a log limiter with a budget per client address, so that one client sending
//! garbage all day does not use up the lines that would tell of another client's trouble.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::rate_limited_log::Window;

/// Client addresses tracked at once. Each costs a few dozen bytes; past this many, the
/// addresses not tracked share one budget (see [`PeerLog::check_at`]), so a flood from many
/// addresses cannot grow the table or the log without bound.
pub(crate) const MAX_PEERS: usize = 1024;

/// Lets through the first `burst` events of each `interval` per client IP address and
/// counts the rest. The lock is taken only on the error path.
#[derive(Debug)]
pub(crate) struct PeerLog {
    burst: u64,
    interval: Duration,
    peers: Mutex<Peers>,
}

#[derive(Debug, Default)]
struct Peers {
    by_ip: BTreeMap<IpAddr, Window>,
    /// The budget of the addresses that found the table full.
    untracked: Window,
    /// Events held back for addresses since dropped from the table, not yet reported.
    forgotten: u64,
}

/// Lines held back since the last [`PeerLog::take_held_back`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldBack {
    /// Events not logged.
    pub(crate) lines: u64,
    /// Client addresses they came from (the untracked ones count as one).
    pub(crate) peers: u64,
}

impl PeerLog {
    /// At most `burst` lines per `interval` for each client address (a `burst` of 0
    /// behaves as 1).
    pub(crate) fn new(burst: u64, interval: Duration) -> PeerLog {
        PeerLog {
            burst: burst.max(1),
            interval,
            peers: Mutex::default(),
        }
    }

    /// Calls `emit(suppressed)` if this event from `ip` may be logged now, where
    /// `suppressed` is how many of that address's events were held back since its last
    /// line; else counts the event.
    pub(crate) fn log(&self, ip: IpAddr, emit: impl FnOnce(u64)) {
        if let Some(suppressed) = self.check_at(ip, Instant::now()) {
            emit(suppressed);
        }
    }

    /// The decision for an event from `ip` at `now`: `Some(suppressed)` to log it, `None`
    /// to hold it back (counted).
    pub(crate) fn check_at(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        // A poisoned lock only means a panic mid-update of two counters: a count off by one.
        let mut p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let (burst, interval) = (self.burst, self.interval);
        if let Some(window) = p.by_ip.get_mut(&ip) {
            return window.check(now, burst, interval);
        }
        if p.by_ip.len() >= MAX_PEERS {
            // Room from the addresses whose interval is over; what they held back is
            // reported by the next summary.
            let mut forgotten = 0;
            p.by_ip.retain(|_, w| {
                let keep = !w.is_over(now, interval);
                if !keep {
                    forgotten += w.take_suppressed();
                }
                keep
            });
            p.forgotten += forgotten;
        }
        if p.by_ip.len() < MAX_PEERS {
            let mut window = Window::default();
            let decision = window.check(now, burst, interval);
            p.by_ip.insert(ip, window);
            decision
        } else {
            p.untracked.check(now, burst, interval)
        }
    }

    /// Takes the count of events held back so far, for a summary line that does not wait
    /// for the next event of a quiet address; forgets the addresses whose interval is over.
    pub(crate) fn take_held_back(&self, now: Instant) -> HeldBack {
        let mut p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let interval = self.interval;
        let mut held = HeldBack {
            lines: std::mem::take(&mut p.forgotten),
            peers: 0,
        };
        let mut count = |n: u64| {
            held.lines += n;
            held.peers += u64::from(n > 0);
        };
        p.by_ip.retain(|_, w| {
            count(w.take_suppressed());
            !w.is_over(now, interval)
        });
        count(p.untracked.take_suppressed());
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    /// The budget was one for the whole process: a noisy client spent it and the next
    /// client's first bad frame went unlogged.
    #[test]
    fn a_second_clients_first_line_is_logged_after_a_first_client_spent_its_budget() {
        let log = PeerLog::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let noisy: Vec<_> = (0..100).map(|_| log.check_at(ip(1), t0)).collect();
        assert_eq!(noisy.iter().filter(|d| d.is_some()).count(), 3);
        assert_eq!(log.check_at(ip(2), t0), Some(0));
        // The noisy client's next line, an interval on, says how many were held back.
        assert_eq!(log.check_at(ip(1), t0 + Duration::from_secs(60)), Some(97));
    }

    #[test]
    fn the_summary_takes_what_was_held_back_and_from_how_many_clients() {
        let log = PeerLog::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            log.check_at(ip(1), t0);
            log.check_at(ip(2), t0);
        }
        log.check_at(ip(3), t0);
        assert_eq!(log.take_held_back(t0), HeldBack { lines: 8, peers: 2 });
        assert_eq!(log.take_held_back(t0), HeldBack { lines: 0, peers: 0 });
        // Reported once: the next line does not count them again.
        assert_eq!(log.check_at(ip(1), t0 + Duration::from_secs(60)), Some(0));
    }

    #[test]
    fn past_the_tracked_addresses_the_others_share_one_budget() {
        let log = PeerLog::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for n in 0..MAX_PEERS as u32 {
            assert_eq!(log.check_at(ip(n), t0), Some(0));
        }
        let late = MAX_PEERS as u32;
        assert_eq!(log.check_at(ip(late), t0), Some(0));
        assert_eq!(log.check_at(ip(late + 1), t0), None);
        assert_eq!(log.peers.lock().unwrap().by_ip.len(), MAX_PEERS);
        // An interval on, the old addresses make room again.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(log.check_at(ip(late + 1), later), Some(0));
        assert_eq!(log.peers.lock().unwrap().by_ip.len(), 1);
    }
}
