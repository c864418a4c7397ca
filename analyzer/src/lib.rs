//! Ocelot's analyzers (`ocelot-analyzer`): pure report logic. Trees and timestamps in,
//! mergeable hourly reports out (transaction, event, problem, heartbeat, metric, state).
//! No I/O and no clock.
//!
//! Not written yet: see issue "Collector and analyzers".
