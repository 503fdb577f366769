//! [`OutboundHooks`]: the `wasmtime_wasi_http::WasiHttpHooks` a store uses, so every
//! `wasi:http/outgoing-handler.handle` call of the component goes through the shared
//! [`OutboundClient`] (allow-list, identity, timeouts, size cap).

use std::future::Future;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::client::OutboundClient;

/// Per-store hooks; cheap (a handle on the process-wide [`OutboundClient`]).
///
/// Put one in the store's state and lend it out in `WasiHttpView::http`:
/// `WasiHttpCtxView { ctx, table, hooks: &mut self.hooks }`.
#[derive(Clone, Debug)]
pub struct OutboundHooks {
    client: OutboundClient,
}

impl OutboundHooks {
    /// Hooks sending through `client`.
    pub fn new(client: OutboundClient) -> OutboundHooks {
        OutboundHooks { client }
    }

    /// The client the hooks send through.
    pub fn client(&self) -> &OutboundClient {
        &self.client
    }
}

/// The connection future `WasiHttpHooks::send_request` takes and hands back.
pub type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// What `WasiHttpHooks::send_request` returns: the response and its connection future, or the
/// `wasi:http` error. Named once for every hook of the host (and its tests).
pub type SendRequestFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    /// Allow-list first (denied → `HTTP-request-denied`, nothing sent), then
    /// [`OutboundClient::send`]. The response body is already complete, so the connection
    /// future handed back has nothing left to report.
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendRequestFuture {
        drop(fut);
        let client = self.client.clone();
        Box::new(async move {
            let response = client.send(request, options).await?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
