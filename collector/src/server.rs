//! The TCP side: accept CAT clients, split their byte streams into frames, hand each frame
//! to the collector: the frames of each read are checked one by one (scanned, not decoded),
//! then handed on together. No handshake and no reply, like CAT: clients never read.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::BytesMut;
use ocelot_protocol::FrameDecoder;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::collector::{Collector, IngestBatch};
use crate::rate_limited_log::RateLimitedLog;
use crate::stats::frame_error_reason;

/// Bad-frame warnings across all connections: a client sending garbage a thousand times a
/// second gets a few lines, then one line a minute with the count held back.
static BAD_FRAME_LOG: RateLimitedLog = RateLimitedLog::new(10, std::time::Duration::from_secs(60));

/// Initial read buffer per connection: C clients write up to ~60 KiB at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Serves CAT clients on `listener` until `shutdown` completes, then stops accepting, lets
/// every connection finish the frames it already has, and returns. The caller then calls
/// [`Collector::shutdown`] to drain the workers and write the open hours.
pub async fn run(
    listener: TcpListener,
    collector: Collector,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(collector.max_connections().max(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = limit.clone().acquire_owned() => permit.expect("semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let collector = collector.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, &collector, stop).await;
            drop(permit);
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    collector: &Collector,
    mut stop: watch::Receiver<bool>,
) {
    let stats = collector.stats_handle();
    stats.connections_open.fetch_add(1, Relaxed);
    stats.connections_total.fetch_add(1, Relaxed);
    let mut decoder = FrameDecoder::new(collector.max_frame_bytes());
    let mut buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    // The trees of one read go to the store and the workers together.
    let mut batch = IngestBatch::default();
    'read: loop {
        let read = tokio::select! {
            read = stream.read_buf(&mut buf) => read,
            _ = stop.changed() => break,
        };
        match read {
            Ok(0) if !buf.is_empty() => {
                // The client closed (or died) inside a frame: that tree is lost, say so.
                collector.count_frame_error("truncated");
                BAD_FRAME_LOG.log(|suppressed| {
                    tracing::warn!(%peer, offset = decoder.offset(), bytes = buf.len(), suppressed, "connection closed inside a frame; its partial tree is dropped");
                });
                break;
            }
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(%peer, error = %e, "connection read failed");
                break;
            }
        }
        loop {
            let offset = decoder.offset();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Err(e) = collector.accept(frame, &mut batch) {
                        BAD_FRAME_LOG.log(|suppressed| {
                            tracing::warn!(%peer, offset, error = %e, suppressed, "malformed frame; closing the connection");
                        });
                        break 'read;
                    }
                }
                Ok(None) => {
                    collector.dispatch(&mut batch);
                    break;
                }
                Err(e) => {
                    collector.count_frame_error(frame_error_reason(&e));
                    BAD_FRAME_LOG.log(|suppressed| {
                        tracing::warn!(%peer, offset, error = %e, suppressed, "bad frame length; closing the connection");
                    });
                    break 'read;
                }
            }
        }
    }
    // Trees decoded before a bad frame or a shutdown still count.
    collector.dispatch(&mut batch);
    stats.connections_open.fetch_sub(1, Relaxed);
}
