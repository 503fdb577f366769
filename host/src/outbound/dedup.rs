//! Forwards delivered once: the host's half of the gateway's `POST /v1/notifications/wechatpay`.
//!
//! WeChat delivers one `COUPON.USE` event again and again until it gets a success (and
//! sometimes after). The component verifies each delivery and forwards the event to the
//! merchant's internal URL with the header `idempotency-key: <event id>`; but the component
//! keeps nothing between requests (a fresh instance each), so the memory of what was forwarded
//! lives here, in the outbound client every instance shares:
//!
//! - a request to [`ForwardDedup::url_prefix`] carrying an `idempotency-key` already answered
//!   2xx within [`ForwardDedup::ttl`] is not sent again: it is answered here with the first
//!   status, an empty body and `wxcoupon-deduplicated: true`;
//! - the same key while the first is still on its way is answered `409` (the component then
//!   fails the delivery, and WeChat comes back later, when the first has settled);
//! - a failed forward (non-2xx, or an error) is forgotten, so WeChat's next delivery tries again.
//!
//! The memory is bounded ([`ForwardDedup::max_entries`]; the oldest settled entries go first)
//! and lasts longer than WeChat's retry schedule (about 24 h). Hosts that run the component
//! elsewhere (Spin, `wasmtime serve`, `jco serve`) have no such memory: there the receiver
//! deduplicates on the same header (docs/v3.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The header the gateway forwards the event id under (the api crate's, which both edges set).
pub use wxcoupon_api::notification::IDEMPOTENCY_KEY;
/// The header marking an answer given from memory.
pub const DEDUPLICATED: &str = "wxcoupon-deduplicated";

/// Which forwards are deduplicated, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardDedup {
    /// Requests whose URL starts with this (the gateway's forward URL).
    pub url_prefix: String,
    /// How long a delivered key is remembered (default 25 h: WeChat retries for about 24 h).
    pub ttl: Duration,
    /// The most keys remembered.
    pub max_entries: usize,
}

impl ForwardDedup {
    /// Deduplication of forwards to `url_prefix` with the defaults.
    pub fn new(url_prefix: impl Into<String>) -> ForwardDedup {
        ForwardDedup {
            url_prefix: url_prefix.into(),
            ttl: Duration::from_secs(25 * 3600),
            max_entries: 100_000,
        }
    }
}

enum Seen {
    InFlight,
    Delivered { status: u16, at: Instant },
}

/// What to do with one request.
pub(crate) enum Admission {
    /// Not a deduplicated forward: send it.
    Untracked,
    /// A first forward of this key: send it, then [`Memory::settle`] it.
    First(String),
    /// Already delivered: answer this status without sending.
    Delivered(u16),
    /// Still on its way: answer 409.
    InFlight,
}

/// The remembered keys.
pub(crate) struct Memory {
    config: ForwardDedup,
    seen: Mutex<HashMap<String, Seen>>,
}

impl Memory {
    pub(crate) fn new(config: ForwardDedup) -> Memory {
        Memory {
            config,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides for a request to `url` with this `idempotency-key`.
    pub(crate) fn admit(&self, url: &str, key: Option<&str>) -> Admission {
        let Some(key) = key.filter(|_| url.starts_with(&self.config.url_prefix)) else {
            return Admission::Untracked;
        };
        let mut seen = self.lock();
        let now = Instant::now();
        match seen.get(key) {
            Some(Seen::Delivered { status, at }) if now.duration_since(*at) < self.config.ttl => {
                return Admission::Delivered(*status)
            }
            Some(Seen::InFlight) => return Admission::InFlight,
            _ => {}
        }
        if seen.len() >= self.config.max_entries {
            let ttl = self.config.ttl;
            seen.retain(|_, s| {
                matches!(s, Seen::Delivered { at, .. } if now.duration_since(*at) < ttl)
                    || matches!(s, Seen::InFlight)
            });
            if seen.len() >= self.config.max_entries {
                let oldest = seen
                    .iter()
                    .filter_map(|(k, s)| match s {
                        Seen::Delivered { at, .. } => Some((k.clone(), *at)),
                        Seen::InFlight => None,
                    })
                    .min_by_key(|(_, at)| *at)
                    .map(|(k, _)| k);
                if let Some(k) = oldest {
                    seen.remove(&k);
                }
            }
        }
        seen.insert(key.to_string(), Seen::InFlight);
        Admission::First(key.to_string())
    }

    /// Records how a first forward ended: remembered when 2xx, forgotten otherwise.
    pub(crate) fn settle(&self, key: &str, status: Option<u16>) {
        let mut seen = self.lock();
        match status {
            Some(s) if (200..300).contains(&s) => {
                seen.insert(
                    key.to_string(),
                    Seen::Delivered {
                        status: s,
                        at: Instant::now(),
                    },
                );
            }
            _ => {
                seen.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_sent_once_after_success_and_again_after_failure() {
        let m = Memory::new(ForwardDedup::new("http://internal/events"));
        let url = "http://internal/events";
        assert!(matches!(m.admit(url, None), Admission::Untracked));
        assert!(matches!(
            m.admit("http://other/", Some("EV-1")),
            Admission::Untracked
        ));
        let Admission::First(k) = m.admit(url, Some("EV-1")) else {
            panic!()
        };
        assert!(matches!(m.admit(url, Some("EV-1")), Admission::InFlight));
        m.settle(&k, Some(500));
        let Admission::First(k) = m.admit(url, Some("EV-1")) else {
            panic!()
        };
        m.settle(&k, Some(204));
        assert!(matches!(
            m.admit(url, Some("EV-1")),
            Admission::Delivered(204)
        ));
    }

    #[test]
    fn memory_is_bounded_and_expires() {
        let mut config = ForwardDedup::new("http://i/");
        config.max_entries = 2;
        let m = Memory::new(config);
        for key in ["a", "b", "c"] {
            let Admission::First(k) = m.admit("http://i/", Some(key)) else {
                panic!()
            };
            m.settle(&k, Some(200));
        }
        assert!(m.lock().len() <= 2);
        assert!(matches!(
            m.admit("http://i/", Some("c")),
            Admission::Delivered(200)
        ));
        let mut config = ForwardDedup::new("http://i/");
        config.ttl = Duration::ZERO;
        let m = Memory::new(config);
        let Admission::First(k) = m.admit("http://i/", Some("a")) else {
            panic!()
        };
        m.settle(&k, Some(200));
        assert!(matches!(
            m.admit("http://i/", Some("a")),
            Admission::First(_)
        ));
    }
}
