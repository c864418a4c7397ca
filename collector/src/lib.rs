//! Ocelot's collector (`ocelot-collector`): a tokio TCP server on port 2280 that splits the
//! stream into frames, decodes them, and hands each tree to the analyzers and the store,
//! in hourly periods.
//!
//! Not written yet: see issue "Collector and analyzers".
