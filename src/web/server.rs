//! The web listener's connection loop: hyper's HTTP/1 server under limits
//! that keep slow or idle clients from holding the listener.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never
//! applied, and it caps neither headers nor connections: three clients
//! sending a byte a second, or sixty idle connections under a low file
//! limit, kept everyone else out. Here every connection gets
//! `[web] header_read_timeout_secs` to send each request's headers (hyper
//! counts from when the connection is ready for a request, so an idle
//! keep-alive connection is closed after the same time), a cap of
//! `[web] max_header_bytes` on the request head (431 beyond), and
//! `[web] request_timeout_secs` to send its body and be answered (408); at
//! most `[web] max_connections` are served at once, the rest wait in the
//! kernel's accept queue.
//!
//! hyper answers a request it cannot parse (400, 414, 431) by itself,
//! without calling the router: [`SecuredIo`] adds the security headers the
//! router puts on every other response to those answers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// `[web]`'s limits on connections, as the connection loop applies them.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
}

/// How long open connections get to finish after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// open connections finish their request (for at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        // A slot first: at the cap, new connections wait in the backlog
        // rather than being accepted and starved.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: wait for some
                    // to close instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_header_size(limits.max_header_bytes)
            .serve_connection(TokioIo::new(SecuredIo::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish in time; closing them");
    }
}

/// Answers 408 when reading the request's body and answering it takes
/// longer than `limit` (a body trickled in a byte at a time).
pub async fn request_deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = (
                StatusCode::REQUEST_TIMEOUT,
                "The request took too long to arrive.\n",
            )
                .into_response();
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// A connection that adds the security headers to the responses hyper
/// writes itself. Every response the router builds carries a
/// `Content-Security-Policy` ([`super::security::headers`]); a 400, 414 or
/// 431 head without one is hyper's own answer to a request it could not
/// parse, and gets the same headers (and `Cache-Control: no-store`) before
/// it reaches the socket.
///
/// Writes stay vectored when the socket's are: hyper then hands a response
/// over as its head followed by its body, each a buffer of its own, and
/// only the first buffer of a write can start a head. (Without vectored
/// writes hyper copies every body into the head's buffer before writing.)
pub(crate) struct SecuredIo<T> {
    inner: T,
    /// A rewritten head (and whatever followed it) owed to the socket.
    owed: Vec<u8>,
    sent: usize,
}

impl<T> SecuredIo<T> {
    pub(crate) fn new(inner: T) -> Self {
        SecuredIo {
            inner,
            owed: Vec::new(),
            sent: 0,
        }
    }
}

/// The statuses hyper answers by itself, on a request it could not parse.
const HYPER_OWN_STATUSES: [&[u8]; 3] = [b" 400 ", b" 414 ", b" 431 "];

/// `buf` with the security headers added, when it starts with the head of
/// one of hyper's own answers (a status it sends by itself, and no
/// `Content-Security-Policy`, which every response of the router has).
fn secured_head(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.get(8..13)?;
    if !(buf.starts_with(b"HTTP/1.1") || buf.starts_with(b"HTTP/1.0"))
        || !HYPER_OWN_STATUSES.contains(&status)
    {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = &buf[..end + 2];
    const POLICY: &[u8] = b"content-security-policy:";
    let has_policy = head.split(|b| *b == b'\n').any(|line| {
        line.get(..POLICY.len())
            .is_some_and(|name| name.eq_ignore_ascii_case(POLICY))
    });
    if has_policy {
        return None;
    }
    let mut out = Vec::with_capacity(buf.len() + 512);
    out.extend_from_slice(head);
    for (name, value) in super::security::SECURITY_HEADERS {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"cache-control: no-store\r\n");
    out.extend_from_slice(&buf[end + 2..]);
    Some(out)
}

impl<T: AsyncWrite + Unpin> SecuredIo<T> {
    /// Takes the whole of `buf` when it is the head of one of hyper's own
    /// answers, to send it with the security headers: what the socket does
    /// not take now goes out before the next write, flush or shutdown.
    fn take_secured(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        self.owed = secured_head(buf)?;
        Some(match self.poll_owed(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(buf.len())),
        })
    }

    /// Sends what is owed; ready when nothing is.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.owed.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.owed[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.owed.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SecuredIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SecuredIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        if let Some(taken) = this.take_secured(cx, buf) {
            return taken;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(taken) = this.take_secured(cx, first) {
                return taken;
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_owed(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::{secured_head, SecuredIo};
    use std::io::IoSlice;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn vectored_writes_pass_through_and_hyper_s_own_heads_are_still_secured() {
        let mut io = SecuredIo::new(Vec::<u8>::new());
        assert!(tokio::io::AsyncWrite::is_write_vectored(&io));
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n";
        let parts = [IoSlice::new(b""), IoSlice::new(head), IoSlice::new(b"body")];
        let n = io.write_vectored(&parts).await.unwrap();
        assert_eq!(n, head.len() + 4);
        let own = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let n = io.write_vectored(&[IoSlice::new(own)]).await.unwrap();
        assert_eq!(n, own.len());
        io.flush().await.unwrap();
        let out = String::from_utf8(io.inner).unwrap();
        let (ours, theirs) = out.split_at(head.len() + 4);
        assert_eq!(ours.as_bytes(), [&head[..], b"body"].concat());
        assert!(theirs.starts_with("HTTP/1.1 431 "), "{theirs}");
        assert!(
            theirs.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{theirs}"
        );
    }

    #[test]
    fn hyper_s_own_error_heads_get_the_security_headers() {
        let head =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(secured_head(head).unwrap()).unwrap();
        assert!(out.starts_with(
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n"
        ));
        assert!(out.contains("\r\ncontent-security-policy: default-src 'none'"));
        assert!(out.contains("\r\nx-frame-options: DENY\r\n"));
        assert!(out.ends_with("cache-control: no-store\r\n\r\n"));
    }

    #[test]
    fn the_router_s_responses_and_body_bytes_are_left_alone() {
        let ours = b"HTTP/1.1 400 Bad Request\r\nContent-Security-Policy: x\r\n\r\nbody";
        assert!(secured_head(ours).is_none());
        // Statuses hyper never sends by itself: the router's.
        assert!(secured_head(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(secured_head(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(secured_head(b"<p>HTTP/1.1 400</p>").is_none());
        assert!(secured_head(b"HTTP/1.1 400 Bad Request\r\nno end").is_none());
    }
}
