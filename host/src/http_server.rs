//! The accept loop `serve` and `egress` share: accept connections until shutdown, one task per
//! connection, then tell every connection to stop and drain them within a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

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

/// The connections of one listener and the signal that tells them to stop.
pub(crate) struct Connections {
    target: LogTarget,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    tasks: JoinSet<()>,
}

impl Connections {
    pub(crate) fn new(target: LogTarget) -> Connections {
        let (stop_tx, stop_rx) = watch::channel(false);
        Connections {
            target,
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
                    let _ = stream.set_nodelay(true);
                    self.tasks.spawn(connection(stream, peer, self.stop_rx.clone()));
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
