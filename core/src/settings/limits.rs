//! Every numeric limit and default of the settings, defined once: the reference host, its
//! egress proxy, the component (its client and gateway) and the Envoy filter take them from
//! here.

/// The largest timeout accepted, in milliseconds (10 minutes).
pub const MAX_TIMEOUT_MS: u32 = 600_000;
/// The largest response cap accepted (16 MiB).
pub const MAX_RESPONSE_BYTES_LIMIT: u32 = 16 * 1024 * 1024;
/// The default response cap: 64 KiB, the core's own XML limit.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 64 * 1024;
/// The default connect timeout (DNS, TCP and TLS handshake), in milliseconds.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 5_000;
/// The default time from a usable connection to the response head, in milliseconds.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u32 = 10_000;
/// The default time between two chunks of a response body, in milliseconds.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u32 = 10_000;
/// The default timeout of a whole WeChat Pay call where an edge has only one (the Envoy
/// filter's `dispatch_http_call`), in milliseconds.
pub const DEFAULT_CALL_TIMEOUT_MS: u32 = 10_000;
