//! State that belongs to one process, made anew in a process forked from it.
//!
//! A child forked after a client was built inherits a copy of the client's memory but none
//! of its threads: the sender thread, the mark keeper and any thread that held one of the
//! SDK's locks at the moment of the fork are gone, and a lock one of them held stays locked
//! in the child for ever. The child's copies of the parent's ID counters would hand out the
//! parent's next IDs again, and its copy of the queue has no reader. So everything a client
//! keeps per process (the queue, the sender thread, the ID factories and their registry, the
//! aggregators) sits in a [`PerProcess`]: the value of the process that made it, and, made on
//! first use in each process forked from it, one of that process's own. The child never
//! locks, reads or drops the parent's copy.
//!
//! Telling a child apart: `std::process::id()` is a system call (about 170 ns on the VMs we
//! measure on, half the cost of handing a tree to the sender), too much for every tree.
//! Each thread keeps the pid it read last in a [`PidCache`] and reads it again when it is
//! older than [`PID_RECHECK_US`] of its own clock, which it reads anyway. Only the thread
//! that called `fork` carries a cache over into the child, and `fork` itself (copying the
//! page tables) takes about that long, so a child practically always reads its own pid for
//! its first tree. If it did not, trees the forking thread ends in that first instant go to
//! the parent's copy of the queue and are never sent (nor are their IDs); waits on the
//! parent's locks are still avoided (see [`lock_in`]). Paths where an ID leaves the tree
//! (`current_message_id`, `RemoteCall` IDs) or that are not per tree read the pid each time.
//!
//! Safe Rust has no fork hook (`pthread_atfork`, `MADV_WIPEONFORK` are `unsafe`), hence the
//! pid. A pid recycled across generations (a grandchild that gets the pid of its dead
//! grandparent) would take the grandparent's state for its own; pids wrap only after
//! hundreds of thousands of processes, so that is left as it is.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

/// How long a thread trusts the pid it read last, in microseconds of its clock.
pub(crate) const PID_RECHECK_US: u64 = 100;

/// This process's id (in unit tests, the one a test thread pretends to run in).
pub(crate) fn current_pid() -> u32 {
    #[cfg(test)]
    if let Some(pid) = tests::pretended() {
        return pid;
    }
    std::process::id()
}

/// One thread's last reading of the pid.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PidCache {
    pid: u32,
    read_at_us: u64,
}

impl PidCache {
    pub(crate) const fn new() -> Self {
        PidCache {
            pid: 0,
            read_at_us: 0,
        }
    }

    /// The pid, read again if the last reading is [`PID_RECHECK_US`] older than `now_us` (the
    /// thread's clock; a clock that went back reads it again too).
    pub(crate) fn pid(&mut self, now_us: u64) -> u32 {
        #[cfg(test)]
        if let Some(pid) = tests::pretended() {
            return pid;
        }
        if self.pid == 0 || now_us.wrapping_sub(self.read_at_us) >= PID_RECHECK_US {
            self.pid = std::process::id();
            self.read_at_us = now_us;
        }
        self.pid
    }
}

/// A value per process: see the module docs.
pub(crate) struct PerProcess<T> {
    first: Slot<T>,
}

/// Where the value of one process goes.
struct Slot<T> {
    /// The pid of the thread's process that makes (or made) the value; 0 before. A value
    /// other than ours with nothing made is a copy of a parent whose thread was making it
    /// when the parent forked: that thread does not exist here, so the slot is ours to take.
    claimed_by: AtomicU32,
    made: OnceLock<Box<Entry<T>>>,
}

struct Entry<T> {
    pid: u32,
    /// `None` only once forgotten by `Drop`.
    value: Option<T>,
    /// The value of the first process forked from this one that asked for it.
    forked: Slot<T>,
}

impl<T> Slot<T> {
    const fn new() -> Self {
        Slot {
            claimed_by: AtomicU32::new(0),
            made: OnceLock::new(),
        }
    }
}

/// Gives a claimed slot back if the value's maker panics, so that another thread makes it.
struct Unclaim<'a>(&'a AtomicU32);

impl Drop for Unclaim<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

impl<T> PerProcess<T> {
    pub(crate) const fn new() -> Self {
        PerProcess { first: Slot::new() }
    }

    /// The value of process `pid`, made by `make` on first use in that process; `make` gets
    /// the value of the process it was forked from (`None` in the first one). Threads of
    /// this process that ask meanwhile wait for the one making it (a thread that is alive);
    /// nothing here waits for a thread of another process.
    pub(crate) fn get_or_make(&self, pid: u32, make: impl FnOnce(Option<&T>) -> T) -> &T {
        let mut slot = &self.first;
        let mut parent: Option<&T> = None;
        let mut make = Some(make);
        loop {
            if let Some(entry) = slot.made.get() {
                if entry.pid == pid {
                    if let Some(value) = &entry.value {
                        return value;
                    }
                }
                parent = entry.value.as_ref();
                slot = &entry.forked;
                continue;
            }
            let claimed = slot.claimed_by.load(Ordering::Acquire);
            if claimed == pid {
                // Another thread of this process is making it.
                std::thread::yield_now();
                continue;
            }
            if slot
                .claimed_by
                .compare_exchange(claimed, pid, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            let unclaim = Unclaim(&slot.claimed_by);
            let make = make.take().expect("made once: the claim is ours");
            let entry = Entry {
                pid,
                value: Some(make(parent)),
                forked: Slot::new(),
            };
            // Only the claiming thread sets the slot, so `set` finds it empty and waits for
            // nobody.
            let _ = slot.made.set(Box::new(entry));
            std::mem::forget(unclaim);
        }
    }

    /// The value of process `pid` if it has been made.
    pub(crate) fn get(&self, pid: u32) -> Option<&T> {
        let mut slot = &self.first;
        loop {
            let entry = slot.made.get()?;
            if entry.pid == pid {
                return entry.value.as_ref();
            }
            slot = &entry.forked;
        }
    }
}

impl<T> Drop for Entry<T> {
    fn drop(&mut self) {
        if self.pid != current_pid() {
            // Another process's copy: its locks may be held by threads that do not exist
            // here, its thread handles name threads of another process. Never touched,
            // never dropped. (The forked slot, this process's own, drops as usual.)
            std::mem::forget(self.value.take());
        }
    }
}

/// Locks `mutex`, part of the state of process `pid`. A lock held by another thread is
/// waited for only once `pid` is known to be this process (a fresh pid reading): in a child
/// forked while a thread of the parent held it, it would never be released. `None` then.
pub(crate) fn lock_in<T>(mutex: &Mutex<T>, pid: u32) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) if current_pid() == pid => {
            Some(mutex.lock().unwrap_or_else(|e| e.into_inner()))
        }
        Err(TryLockError::WouldBlock) => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static PRETENDED: Cell<Option<u32>> = const { Cell::new(None) };
    }

    pub(crate) fn pretended() -> Option<u32> {
        PRETENDED.try_with(Cell::get).ok().flatten()
    }

    /// Makes this thread act as if it ran in process `pid` (a child forked from this one),
    /// until `None`.
    pub(crate) fn pretend_pid(pid: Option<u32>) {
        PRETENDED.with(|p| p.set(pid));
    }

    /// A pid that is not this process's.
    pub(crate) fn another_pid(n: u32) -> u32 {
        std::process::id().wrapping_add(n).max(1) ^ (1 << 30)
    }

    #[test]
    fn each_process_gets_its_own_value_made_from_its_parents() {
        let values: PerProcess<String> = PerProcess::new();
        let parent = values.get_or_make(10, |from| {
            assert!(from.is_none());
            "parent".to_owned()
        });
        assert_eq!(parent, "parent");
        assert_eq!(values.get_or_make(10, |_| unreachable!()), "parent");
        let child = values.get_or_make(11, |from| format!("child of {}", from.unwrap()));
        assert_eq!(child, "child of parent");
        let grandchild = values.get_or_make(12, |from| format!("child of {}", from.unwrap()));
        assert_eq!(grandchild, "child of child of parent");
        assert_eq!(values.get(11).map(String::as_str), Some("child of parent"));
        assert_eq!(values.get(13), None);
    }

    /// A parent's thread that was making the child's slot value when it forked left the
    /// slot claimed in the copy; the child takes it over instead of waiting.
    #[test]
    fn a_slot_claimed_by_a_thread_of_another_process_is_taken_over() {
        let values: PerProcess<u32> = PerProcess::new();
        values.get_or_make(10, |_| 1);
        let entry = values.first.made.get().unwrap();
        entry.forked.claimed_by.store(10, Ordering::Release);
        assert_eq!(*values.get_or_make(11, |_| 2), 2);
    }

    #[test]
    fn a_lock_held_in_a_parent_is_not_waited_for_in_a_child() {
        let mutex = Mutex::new(0);
        let _held = mutex.lock().unwrap();
        pretend_pid(Some(another_pid(1)));
        let child = lock_in(&mutex, std::process::id()).is_none();
        pretend_pid(None);
        assert!(child);
    }
}
