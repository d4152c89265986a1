//! Backoff schedules (exponential with jitter, from the `backon` crate).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Exponential backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// First delay.
    pub min: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth factor per attempt.
    pub factor: f32,
}

impl BackoffPolicy {
    /// Deliveries: 1 s, 2 s, 4 s, ... up to 5 min, with jitter.
    pub const DELIVERY: BackoffPolicy = BackoffPolicy {
        min: Duration::from_secs(1),
        max: Duration::from_secs(300),
        factor: 2.0,
    };
    /// Transient login failures: 1 s up to 1 min.
    pub const LOGIN: BackoffPolicy = BackoffPolicy {
        min: Duration::from_secs(1),
        max: Duration::from_secs(60),
        factor: 2.0,
    };
    /// Rejected credentials: 5 min up to 1 h (never a tight loop).
    pub const REJECTED: BackoffPolicy = BackoffPolicy {
        min: Duration::from_secs(300),
        max: Duration::from_secs(3600),
        factor: 2.0,
    };

    /// Delay before attempt number `attempt` (1-based: the first retry is attempt 1), with
    /// full jitter applied by `backon` (the delay lies in `[d, 2d)` of the exponential step,
    /// capped at `max`).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut it = ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(self.factor)
            .with_jitter()
            .without_max_times()
            .build();
        let n = attempt.clamp(1, 64) as usize;
        it.nth(n - 1).unwrap_or(self.max).min(self.max * 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let p = BackoffPolicy::DELIVERY;
        let first = p.delay(1);
        assert!(first >= Duration::from_secs(1) && first < Duration::from_secs(3));
        let late = p.delay(30);
        assert!(late >= Duration::from_secs(300) && late <= Duration::from_secs(600));
        assert!(p.delay(4) >= Duration::from_secs(8));
    }
}
