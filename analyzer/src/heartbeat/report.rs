//! [`HeartbeatReport`]: per machine and minute, the named numbers of its heartbeats, and
//! the [`HeartbeatView`] the JSON API returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::view_query::{hour_label, ViewQuery};

/// All heartbeats of one domain in one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeartbeatReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// Keyed by client IP.
    pub(crate) machines: BTreeMap<String, HeartbeatMachine>,
    /// Heartbeats whose XML was not well-formed (dropped).
    pub(crate) malformed: u64,
    /// Heartbeats, each counted once, filed under an `OTHERS` domain or machine for a cap,
    /// or with values left out because their machine's minute reached the series cap.
    pub(crate) folded: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct HeartbeatMachine {
    /// Minute -> series name -> value (the minute's last heartbeat wins).
    pub(crate) minutes: BTreeMap<u8, BTreeMap<String, f64>>,
    /// This machine's heartbeats whose XML was not well-formed (dropped), so its page can
    /// say why it has nothing to show. Reports from before it was kept read as 0.
    pub(crate) malformed: u64,
}

impl HeartbeatMachine {
    fn merge(&mut self, other: &HeartbeatMachine) {
        self.malformed = self.malformed.saturating_add(other.malformed);
        for (minute, values) in &other.minutes {
            let mine = self.minutes.entry(*minute).or_default();
            for (name, value) in values {
                mine.insert(name.clone(), *value);
            }
        }
    }
}

impl HeartbeatReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        HeartbeatReport {
            domain: domain.into(),
            hour,
            ..HeartbeatReport::default()
        }
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The hour index.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The machines (client IPs) seen.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.machines.keys().map(String::as_str)
    }

    /// Machine `ip`'s minutes with a well-formed heartbeat, ascending, each with its series
    /// (name -> value; the minute's last heartbeat wins). None for a machine not seen.
    pub fn minutes_of(&self, ip: &str) -> impl Iterator<Item = (u8, &BTreeMap<String, f64>)> {
        self.machines
            .get(ip)
            .into_iter()
            .flat_map(|m| m.minutes.iter().map(|(minute, values)| (*minute, values)))
    }

    /// Heartbeats dropped because their XML was malformed.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Heartbeats from machine `ip` dropped because their XML was malformed (0 for a
    /// machine not seen).
    pub fn malformed_of(&self, ip: &str) -> u64 {
        self.machines.get(ip).map_or(0, |m| m.malformed)
    }

    /// Adds `other` to this report; where both have a value for the same machine, minute
    /// and series, `other`'s wins (pass the later report as `other`).
    pub fn merge(&mut self, other: &HeartbeatReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.malformed = self.malformed.saturating_add(other.malformed);
        self.folded = self.folded.saturating_add(other.folded);
        for (ip, machine) in &other.machines {
            self.machines.entry(ip.clone()).or_default().merge(machine);
        }
    }

    /// What `GET /api/heartbeat` returns: one machine's minutes. Heartbeats do not add up
    /// across machines, so `ip` `None`/`All` shows the first machine.
    pub fn view(&self, query: &ViewQuery<'_>) -> HeartbeatView {
        let ip = query
            .machine()
            .map(str::to_owned)
            .or_else(|| self.machines.keys().next().cloned())
            .unwrap_or_default();
        let minutes = self
            .machines
            .get(&ip)
            .into_iter()
            .flat_map(|m| m.minutes.iter())
            .map(|(minute, values)| HeartbeatMinuteView {
                minute: *minute,
                values: values.clone(),
            })
            .collect();
        HeartbeatView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            ips: self.machines.keys().cloned().collect(),
            ip,
            minutes,
            folded: self.folded,
            malformed: self.malformed,
        }
    }
}

/// `GET /api/heartbeat`: `{"domain","hour","ips":[..],"ip","minutes":[{"minute","values"}],
/// "folded","malformed"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every machine that sent heartbeats.
    pub ips: Vec<String>,
    /// The machine shown.
    pub ip: String,
    /// Minutes with a heartbeat, ascending.
    pub minutes: Vec<HeartbeatMinuteView>,
    /// Heartbeats of the hour (every machine) filed under `OTHERS` for a cap or kept with
    /// values left out, each once.
    pub folded: u64,
    /// Heartbeats of the hour (every machine) dropped because their XML was malformed.
    pub malformed: u64,
}

/// One minute of one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Series name -> value.
    pub values: BTreeMap<String, f64>,
}
