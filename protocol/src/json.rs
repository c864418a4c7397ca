//! The JSON shape of a tree, shared by `ocelot decode`, `ocelot lookup` and the web API:
//!
//! ```json
//! {"format":"NT1","header":{"domain":..,"hostname":..,"ip":..,"threadGroupName":..,
//!  "threadId":..,"threadName":..,"messageId":..,"parentMessageId":..,"rootMessageId":..,
//!  "sessionToken":..},
//!  "root":{"kind":"transaction","type":..,"name":..,"status":..,"data":..,"timestamp":ms,
//!          "durationMicros":us,"children":[..]}}
//! ```
//!
//! An absent message ID, parent or root ID and session token is `""` whichever format the
//! tree came in: NT1 writes them empty, PT1 as the word `null` (kept in [`Header`], so a
//! tree re-encodes as it arrived), and a script reading the JSON should not need to know.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::frame::WireFormat;
use crate::message::{Header, Message, MessageTree};

/// A tree with the format it arrived in, serialized as `ocelot decode` prints it.
#[derive(Debug, Clone, Copy)]
pub struct TreeJson<'a> {
    /// The wire format the tree was decoded from.
    pub format: WireFormat,
    /// The tree.
    pub tree: &'a MessageTree,
}

impl Serialize for TreeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("format", self.format.as_str())?;
        map.serialize_entry("header", &self.tree.header)?;
        map.serialize_entry("root", &self.tree.root)?;
        map.end()
    }
}

impl Serialize for MessageTree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("header", &self.header)?;
        map.serialize_entry("root", &self.root)?;
        map.end()
    }
}

impl Serialize for Header {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(10))?;
        map.serialize_entry("domain", &self.domain)?;
        map.serialize_entry("hostname", &self.hostname)?;
        map.serialize_entry("ip", &self.ip_address)?;
        map.serialize_entry("threadGroupName", &self.thread_group_name)?;
        map.serialize_entry("threadId", &self.thread_id)?;
        map.serialize_entry("threadName", &self.thread_name)?;
        map.serialize_entry("messageId", self.message_id().unwrap_or_default())?;
        map.serialize_entry("parentMessageId", self.parent_id().unwrap_or_default())?;
        map.serialize_entry("rootMessageId", self.root_id().unwrap_or_default())?;
        map.serialize_entry("sessionToken", self.session_token().unwrap_or_default())?;
        map.end()
    }
}

struct Children<'a>(&'a [Message]);

impl Serialize for Children<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for child in self.0 {
            seq.serialize_element(child)?;
        }
        seq.end()
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let is_transaction = matches!(self, Message::Transaction(_));
        let mut map = s.serialize_map(Some(if is_transaction { 8 } else { 6 }))?;
        map.serialize_entry("kind", self.kind().as_str())?;
        map.serialize_entry("type", self.type_())?;
        map.serialize_entry("name", self.name())?;
        map.serialize_entry("status", self.status())?;
        map.serialize_entry("data", self.data())?;
        map.serialize_entry("timestamp", &self.timestamp_ms())?;
        if let Message::Transaction(t) = self {
            map.serialize_entry("durationMicros", &t.duration_us)?;
            map.serialize_entry("children", &Children(&t.children))?;
        }
        map.end()
    }
}
