//! Connections with a deadline. hyper, as `axum::serve` runs it, has no timer and so never
//! times out a request's headers or body: a client sending a byte every few seconds holds
//! its connection, and a task, for ever (the probe kept 20 open for a minute). Every
//! connection here is closed [`LIFETIME`] after it was accepted, whatever it is doing;
//! kubeseal and Prometheus finish in well under a second and reconnect as they need.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// How long a connection may stay open.
pub const LIFETIME: Duration = Duration::from_secs(30);

/// A TCP listener whose connections end `lifetime` after they were accepted.
pub struct DeadlineListener {
    listener: TcpListener,
    lifetime: Duration,
}

impl DeadlineListener {
    /// Wraps `listener`.
    pub fn new(listener: TcpListener, lifetime: Duration) -> Self {
        Self { listener, lifetime }
    }
}

impl Listener for DeadlineListener {
    type Io = DeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let deadline = Box::pin(tokio::time::sleep(self.lifetime));
                    return (DeadlineStream { stream, deadline }, addr);
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(err) => {
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The address of the connection's other end, for `ConnectInfo`.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, DeadlineListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, DeadlineListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A connection that fails every read and write once its deadline has passed, which makes
/// hyper drop it.
pub struct DeadlineStream {
    stream: TcpStream,
    deadline: Pin<Box<Sleep>>,
}

impl DeadlineStream {
    fn expired(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::ErrorKind::TimedOut.into()),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.expired(cx)?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.expired(cx)?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.expired(cx)?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A client that never finishes its headers is cut off at the deadline.
    #[tokio::test]
    async fn a_slow_client_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let listener = DeadlineListener::new(listener, Duration::from_millis(300));
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).await
        });

        let mut fast = TcpStream::connect(addr).await.unwrap();
        fast.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        fast.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

        let started = Instant::now();
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                // One header byte now and then, never the end of the headers.
                if slow.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut byte = [0; 1];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await
                {
                    break;
                }
                rest.push(byte[0]);
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the slow connection was still open after 10 s"
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
