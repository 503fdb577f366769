//! The accept loop and the connection `serve` and `egress` share: accept connections until
//! shutdown, one task per connection (HTTP/1.1, keep-alive: [`serve_connection`]), at most [`ConnectionLimits`] open at once (in total and per peer address: more
//! are closed as soon as they are accepted), then tell every connection to stop and drain them
//! within a grace period.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long to pause after a failed `accept` (out of file descriptors and the like) instead of
/// spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Whose listener it is: the target of the loop's log lines (a `tracing` target must be a
/// constant, hence an enum rather than a string).
#[derive(Clone, Copy, Debug)]
pub(crate) enum LogTarget {
    /// `wxcoupon::serve`.
    Serve,
    /// `wxcoupon::egress`.
    Egress,
}

/// `tracing::$level!` at the target `$target` names.
macro_rules! log_at {
    ($target:expr, $level:ident, $($rest:tt)+) => {
        match $target {
            LogTarget::Serve => tracing::$level!(target: "wxcoupon::serve", $($rest)+),
            LogTarget::Egress => tracing::$level!(target: "wxcoupon::egress", $($rest)+),
        }
    };
}

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection (HTTP/1.1, keep-alive) answered by `handle` until it ends or `stop` turns
/// true; then it finishes the request in flight (graceful shutdown) and closes.
pub(crate) async fn serve_connection<H, F, B>(
    target: LogTarget,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(hyper::Request<hyper::body::Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = hyper::service::service_fn(move |request| {
        let answer = handle(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                log_at!(target, debug, %peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.wait_for(|stop| *stop) => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        log_at!(target, debug, %peer, error = %e, "connection ended with an error during shutdown");
    }
}

/// How many connections a listener keeps open at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// In total.
    pub total: usize,
    /// From one peer IP address.
    pub per_peer: usize,
}

/// Open connections per peer address; an entry goes when its last connection ends.
#[derive(Default)]
struct PeerCounts(Mutex<HashMap<IpAddr, usize>>);

impl PeerCounts {
    /// Counts one more connection from `ip`, unless it already has `max`.
    fn try_add(&self, ip: IpAddr, max: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    fn remove(&self, ip: IpAddr) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&ip);
            }
        }
    }
}

/// Gives a connection's place back when its task ends (or is dropped at shutdown).
struct PeerSlot {
    counts: Arc<PeerCounts>,
    ip: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.counts.remove(self.ip);
    }
}

/// The connections of one listener and the signal that tells them to stop.
pub(crate) struct Connections {
    target: LogTarget,
    limits: ConnectionLimits,
    peers: Arc<PeerCounts>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    tasks: JoinSet<()>,
}

impl Connections {
    pub(crate) fn new(target: LogTarget, limits: ConnectionLimits) -> Connections {
        let (stop_tx, stop_rx) = watch::channel(false);
        Connections {
            target,
            limits,
            peers: Arc::default(),
            stop_tx,
            stop_rx,
            tasks: JoinSet::new(),
        }
    }

    /// A receiver of the stop signal: it turns `true` when [`Connections::drain`] begins.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop_rx.clone()
    }

    /// The connections still running.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Accepts connections until `shutdown` resolves, then drops the listener. Each connection
    /// (`TCP_NODELAY` set) runs `connection(stream, peer, stop_signal)` in its own task; finished
    /// tasks are reaped as they end.
    pub(crate) async fn accept_until<F, Fut>(
        &mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        mut connection: F,
    ) where
        F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            log_at!(self.target, warn, error = %e, "accept failed");
                            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                            continue;
                        }
                    };
                    if self.tasks.len() >= self.limits.total
                        || !self.peers.try_add(peer.ip(), self.limits.per_peer)
                    {
                        log_at!(self.target, warn, %peer, open = self.tasks.len(), "connection limit reached: closed");
                        drop(stream);
                        continue;
                    }
                    let slot = PeerSlot { counts: self.peers.clone(), ip: peer.ip() };
                    let _ = stream.set_nodelay(true);
                    let served = connection(stream, peer, self.stop_rx.clone());
                    self.tasks.spawn(async move {
                        let _slot = slot;
                        served.await
                    });
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
        drop(listener);
    }

    /// Tells every connection to stop, then waits up to `grace` for all of them to end and
    /// then for `settle` (whatever else must finish); past the grace period the remaining
    /// connections are dropped.
    pub(crate) async fn drain(mut self, grace: Duration, settle: impl Future<Output = ()>) {
        let _ = self.stop_tx.send(true);
        let tasks = &mut self.tasks;
        let drained = tokio::time::timeout(grace, async {
            while tasks.join_next().await.is_some() {}
            settle.await;
        })
        .await;
        if drained.is_err() {
            log_at!(
                self.target,
                warn,
                connections = self.tasks.len(),
                "shutdown grace period over: dropping the remaining connections"
            );
            self.tasks.shutdown().await;
        }
    }
}
