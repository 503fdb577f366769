//! [`HostError`]: what the reference host's library can fail with around the component — making
//! the engine, compiling and instantiating the component, calling it, binding a server — apart
//! from the component's own answers ([`wxcoupon_core::Error`]) and the outbound client's
//! ([`crate::outbound::OutboundError`]). `anyhow` stays in the CLI.
//!
//! No variant carries a secret: the settings' texts name the setting and the rule, never a value.

use std::net::SocketAddr;

/// A failure of the host around the component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The wasmtime engine could not be made with these settings.
    #[error("create the wasmtime engine: {0}")]
    Engine(#[source] BoxedError),
    /// The bytes are not a component this build can compile.
    #[error("compile the wxcoupon component: {0}")]
    Compile(#[source] BoxedError),
    /// The component does not have what the host calls.
    #[error("the component does not export {expected}: {source}")]
    Exports {
        /// The world or interface the host needs.
        expected: &'static str,
        /// Why linking it failed.
        #[source]
        source: BoxedError,
    },
    /// Instantiating or calling the component failed in wasmtime: a trap, exhausted
    /// resources, a missing import. The instance must not be used again.
    #[error("the component failed: {0}")]
    Component(#[source] BoxedError),
    /// A server setting breaks a rule (the text names it and the rule).
    #[error("{0}")]
    Setting(String),
    /// The listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The outbound client could not be made.
    #[error("outbound client: {0}")]
    Outbound(#[from] crate::outbound::OutboundError),
}

/// The error types wasmtime and the I/O layers hand over, boxed.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl HostError {
    /// A failure inside wasmtime while instantiating or calling the component.
    pub(crate) fn component(e: wasmtime::Error) -> HostError {
        HostError::Component(e.into())
    }
}

/// The result of the host's library calls.
pub type HostResult<T> = Result<T, HostError>;
