//! Trees by message ID from the store: LogView's source and `ocelot lookup`.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use ocelot_protocol::{
    decode_frame, DecodeOptions, MessageId, TreeJson, WireFormat, LENGTH_PREFIX_BYTES,
};
use ocelot_store::{Store, StoreConfig};

/// [`ocelot_web::MessageLookup`] over the store: find the frame, decode it.
pub(crate) struct StoreLookup {
    pub(crate) store: Store,
    pub(crate) decode: DecodeOptions,
}

impl ocelot_web::MessageLookup for StoreLookup {
    fn lookup(&self, id: &MessageId) -> Result<Option<ocelot_web::StoredTree>, String> {
        let Some(frame) = self.store.lookup(id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let bad = |e| format!("stored frame of {id} does not decode: {e}");
        let format = WireFormat::of_body(frame.get(LENGTH_PREFIX_BYTES..).unwrap_or_default())
            .map_err(bad)?;
        let tree = decode_frame(&frame, &self.decode).map_err(bad)?;
        Ok(Some(ocelot_web::StoredTree { format, tree }))
    }
}

/// `ocelot lookup ID --data DIR`: prints the tree as `ocelot decode` does.
pub(crate) fn run(id: &str, data: &Path, decode: DecodeOptions) -> anyhow::Result<ExitCode> {
    let id: MessageId = match id.parse() {
        Ok(id) => id,
        Err(e) => {
            crate::logging::problem("lookup", &e.to_string());
            return Ok(ExitCode::from(2));
        }
    };
    if !data.is_dir() {
        let what = if data.exists() {
            "not a directory"
        } else {
            "no data directory"
        };
        anyhow::bail!(
            "{what}: {} (give the server's data directory with --data, or its configuration with --config)",
            data.display()
        );
    }
    // Read-only: a running server may own this folder; recovery must not touch its files.
    let store = Store::open_read_only(StoreConfig::new(data))
        .with_context(|| format!("opening the store at {}", data.display()))?;
    let frame = store.lookup(&id).context("looking up the message")?;
    // Said as LogView's 404 says it: a tree of an hour retention deleted is gone for good.
    let why = match &frame {
        Some(_) => None,
        None => (store.hours().ok().and_then(|hours| hours.first().copied()))
            .and_then(|oldest| ocelot_web::older_than_kept(id.hour, oldest, "this store keeps")),
    };
    store.shutdown();
    let Some(frame) = frame else {
        let why = why.map(|why| format!(" {why}")).unwrap_or_default();
        crate::logging::problem(
            "lookup",
            &format!("no message {id} in {}.{why}", data.display()),
        );
        return Ok(ExitCode::FAILURE);
    };
    let body = frame.get(LENGTH_PREFIX_BYTES..).unwrap_or_default();
    let format = WireFormat::of_body(body).context("stored frame")?;
    let tree = decode_frame(&frame, &decode).context("decoding the stored frame")?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(
        &mut out,
        &TreeJson {
            format,
            tree: &tree,
        },
    )
    .map_err(std::io::Error::from)
    .and_then(|()| out.write_all(b"\n"))
    .context(crate::WritingStdout)?;
    Ok(ExitCode::SUCCESS)
}
