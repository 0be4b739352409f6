//! A socket wrapper that notes the moment a response was handed to the kernel.
//!
//! The per-invocation cost is "INVOKE delivered → next event requested". Taking t0 in the HTTP
//! handler would leave hyper's serialisation on the wrong side of the clock. t0 is taken here,
//! just before the `write` that hands the bytes to the kernel: on loopback that syscall itself
//! wakes the extension on the other core, which can be halfway through its work by the time
//! `write` returns, so a clock read after the write would flatter every extension.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// Shared between one connection's IO and its request handler: the handler arms it before it
/// returns a response, the IO fires it with the start of the first successful write after.
#[derive(Clone, Default)]
pub struct WriteClock {
    armed: Arc<Mutex<Option<oneshot::Sender<Instant>>>>,
}

impl WriteClock {
    /// Returns a receiver that yields the instant of the next write on this connection.
    pub fn arm(&self) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        *self.armed.lock().expect("write clock lock") = Some(tx);
        rx
    }

    fn fire(&self, at: Instant) {
        let mut armed = self.armed.lock().expect("write clock lock");
        if let Some(tx) = armed.take() {
            let _ = tx.send(at);
        }
    }
}

/// An IO object that reports its writes to a [`WriteClock`].
pub struct TimedIo<T> {
    inner: T,
    clock: WriteClock,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, clock: WriteClock) -> Self {
        Self { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let before = Instant::now();
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(_)) = result {
            self.clock.fire(before);
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let before = Instant::now();
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(_)) = result {
            self.clock.fire(before);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
