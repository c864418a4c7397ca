//! Ocelot's client SDK (`ocelot-client`): applications record transactions, events, metrics
//! and heartbeats through macros; each thread builds its message tree in thread-local state,
//! and a background sender ships finished trees to a collector in CAT's NT1 format.
//!
//! Not written yet: see issue "Client SDK".
