//! Ocelot's message store (`ocelot-store`): raw trees in block-GZIP data files, found by
//! message ID through 48-bit index entries, plus sealed hourly reports.
//!
//! Not written yet: see issue "Store".
