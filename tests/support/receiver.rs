//! A stand-in for a merchant's internal service: an HTTP server on loopback that records every
//! request it gets (headers and JSON body) and answers from a script of statuses (then 204).
//! The gateway forwards verified `COUPON.USE` events to it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// One request received: the status it was answered with, its headers, its body as JSON
/// (`Null` when not JSON).
#[derive(Clone, Debug)]
pub struct Received {
    /// The status answered.
    pub status: u16,
    /// The request's headers.
    pub headers: http::HeaderMap,
    /// The request's body.
    pub body: Value,
}

/// The running receiver (it stops with the test's runtime).
#[derive(Clone, Default)]
pub struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    /// Listens on a free loopback port; answers the first requests with `script`, the rest 204.
    pub async fn start(script: &[u16]) -> (Receiver, SocketAddr) {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let r = r.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let r = r.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await.unwrap().to_bytes();
                                let status = r.script.lock().unwrap().pop_front().unwrap_or(204);
                                r.seen.lock().unwrap().push(Received {
                                    status,
                                    headers: parts.headers,
                                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                });
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (receiver, addr)
    }

    /// Everything received so far, in order.
    pub fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }
}
