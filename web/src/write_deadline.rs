//! [`WriteDeadline`]: closes a connection whose client stops reading its answer.
//!
//! hyper's header timeout runs only while a request is awaited. A client that sends a
//! request and never reads the answer leaves hyper waiting to write it, holding the page
//! (megabytes for a busy board) for the connection's whole lifetime. Here a write that makes
//! no progress for the deadline fails, so hyper drops the connection and the answer with it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::server::ServeStats;

/// A stream whose writes fail once none has made progress for `timeout`.
pub(crate) struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    /// Armed by the first write that found the socket's buffer full, disarmed by the next
    /// one that made progress.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
    remote: SocketAddr,
    stats: Arc<ServeStats>,
}

impl<S> WriteDeadline<S> {
    pub(crate) fn new(
        inner: S,
        timeout: Duration,
        remote: SocketAddr,
        stats: Arc<ServeStats>,
    ) -> Self {
        WriteDeadline {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
            remote,
            stats,
        }
    }

    /// What a write that got `poll` from the socket returns: progress disarms the deadline,
    /// a full buffer arms it, and a passed deadline fails the write.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.armed = false;
            return poll;
        }
        if !self.armed {
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
            self.armed = true;
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.stats.note_write_timeout(self.remote, self.timeout);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing of its answer within web.write_timeout_secs",
                )))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
