//! The issuing rate: a token bucket at a rate that halves when WeChat says `FREQ_OVER_LIMIT`
//! (or 429) and climbs back to the set rate as successes come, so a rate limit turns into a
//! slower run rather than a storm of refusals.

use std::time::{Duration, Instant};

/// The bucket's state; the caller keeps it behind a lock and passes the clock in.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// The rate asked for, calls per second.
    target: f64,
    /// The rate now (≤ `target`, ≥ `floor`).
    current: f64,
    /// The lowest rate a throttle brings it to.
    floor: f64,
    /// Tokens in the bucket (at most `burst`).
    tokens: f64,
    burst: f64,
    last: Instant,
    /// No token before this (a pause after a throttle).
    paused_until: Option<Instant>,
}

/// How long every call waits after a throttle before the slower rate takes over.
pub const THROTTLE_PAUSE: Duration = Duration::from_millis(500);

impl RateLimiter {
    /// A bucket at `per_second` (≥ 0.1), full, at `now`.
    pub fn new(per_second: f64, now: Instant) -> RateLimiter {
        let target = per_second.max(0.1);
        // A tenth of a second's worth at once, at least one call: smooth, not bursty.
        let burst = (target / 10.0).max(1.0);
        RateLimiter {
            target,
            current: target,
            floor: (target / 64.0).max(0.1),
            tokens: burst,
            burst,
            last: now,
            paused_until: None,
        }
    }

    /// The rate now, calls per second.
    pub fn rate(&self) -> f64 {
        self.current
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.current).min(self.burst);
    }

    /// Takes a token: `None` when one was there, else how long to wait before asking again.
    pub fn try_take(&mut self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.paused_until {
            if now < until {
                return Some(until - now);
            }
            self.paused_until = None;
            self.last = now;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs_f64((1.0 - self.tokens) / self.current))
    }

    /// WeChat said slow down: halve the rate (not below the floor), empty the bucket, pause.
    pub fn throttled(&mut self, now: Instant) {
        self.current = (self.current / 2.0).max(self.floor);
        self.burst = (self.current / 10.0).max(1.0);
        self.tokens = 0.0;
        self.paused_until = Some(now + THROTTLE_PAUSE);
    }

    /// A call went through: climb back by a fiftieth of the set rate, up to it.
    pub fn succeeded(&mut self) {
        if self.current < self.target {
            self.current = (self.current + self.target / 50.0).min(self.target);
            self.burst = (self.current / 10.0).max(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls the bucket lets through in `seconds` when asked as soon as it allows.
    fn drain(bucket: &mut RateLimiter, start: Instant, seconds: f64) -> u32 {
        let end = start + Duration::from_secs_f64(seconds);
        let mut now = start;
        let mut calls = 0;
        while now < end {
            match bucket.try_take(now) {
                None => calls += 1,
                Some(wait) => now += wait.max(Duration::from_micros(1)),
            }
        }
        calls
    }

    #[test]
    fn holds_the_rate() {
        let start = Instant::now();
        let mut bucket = RateLimiter::new(200.0, start);
        let calls = drain(&mut bucket, start, 10.0);
        // 200/s for 10 s, plus the initial burst of 20.
        assert!((2000..=2021).contains(&calls), "{calls}");
    }

    #[test]
    fn halves_on_a_throttle_pauses_and_climbs_back() {
        let start = Instant::now();
        let mut bucket = RateLimiter::new(100.0, start);
        bucket.throttled(start);
        assert_eq!(bucket.rate(), 50.0);
        assert!(
            bucket
                .try_take(start + Duration::from_millis(100))
                .is_some(),
            "paused"
        );
        bucket.throttled(start);
        bucket.throttled(start);
        assert_eq!(bucket.rate(), 12.5);
        for _ in 0..1000 {
            bucket.throttled(start);
        }
        assert!((bucket.rate() - 100.0 / 64.0).abs() < 1e-9, "the floor");
        for _ in 0..100 {
            bucket.succeeded();
        }
        assert_eq!(bucket.rate(), 100.0);
    }
}
