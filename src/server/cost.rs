//! Per-session resource accounting as ElectrumX does it (aiorpcX `SessionBase`): every request,
//! error and byte adds cost; cost decays over time; above `COST_SOFT_LIMIT` requests are delayed
//! and fewer run at once; at `COST_HARD_LIMIT` the session is cut off. Sessions from one subnet
//! share the bill (the group's cost is added to each member's).

use super::settings::Limits;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The cost of a request that ends in an error (aiorpcX `error_base_cost`).
pub const ERROR_COST: f64 = 100.0;
/// The cost of a line that is not JSON (ten times an error, as aiorpcX).
pub const PARSE_ERROR_COST: f64 = 1000.0;
/// Drift of the cost since the last recalculation that triggers a new one.
const RECALC_DRIFT: f64 = 100.0;

/// One session's running cost and the throttling derived from it.
#[derive(Debug)]
pub struct CostMeter {
    cost: f64,
    at: Instant,
    last: f64,
    fraction: f64,
    /// Extra cost of the session's group (other members plus retained cost), last known.
    extra: f64,
}

/// What the current cost allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Requests allowed to run at once; `None` = unlimited, `Some(0)` = cut the session off.
    pub concurrency: Option<u32>,
    /// Delay before each request starts.
    pub delay: Duration,
}

impl CostMeter {
    /// A fresh meter with no cost.
    pub fn new(now: Instant) -> Self {
        CostMeter {
            cost: 0.0,
            at: now,
            last: 0.0,
            fraction: 0.0,
            extra: 0.0,
        }
    }

    /// The session's own cost (decayed as of the last recalculation).
    pub fn cost(&self) -> f64 {
        self.cost
    }

    /// The group's extra cost used at the last recalculation.
    pub fn extra(&self) -> f64 {
        self.extra
    }

    /// Adds cost; returns true when it drifted enough that a recalculation is due.
    pub fn bump(&mut self, delta: f64) -> bool {
        self.cost = (self.cost + delta).max(0.0);
        (self.cost - self.last).abs() > RECALC_DRIFT
    }

    /// Charges for `bytes` sent or received.
    pub fn bump_bandwidth(&mut self, bytes: usize, limits: &Limits) -> bool {
        if limits.bandwidth_unit_cost == 0 {
            return false;
        }
        self.bump(bytes as f64 / limits.bandwidth_unit_cost as f64)
    }

    /// Applies decay up to `now` and recomputes the throttle with the group's `extra` cost.
    ///
    /// Cost decays by `COST_HARD_LIMIT / (10000 + 5 × subscriptions)` per second, as ElectrumX.
    pub fn recalc(&mut self, now: Instant, extra: f64, subscriptions: usize, limits: &Limits) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let decay = limits.cost_hard_limit as f64 / (10_000.0 + 5.0 * subscriptions as f64);
        self.cost = (self.cost - elapsed * decay).max(0.0);
        self.at = now;
        self.last = self.cost;
        self.extra = extra.max(0.0);
        let range = limits.cost_hard_limit as f64 - limits.cost_soft_limit as f64;
        self.fraction = if limits.cost_hard_limit == 0 || range <= 0.0 {
            0.0
        } else {
            ((self.cost + self.extra - limits.cost_soft_limit as f64) / range).max(0.0)
        };
    }

    /// What the cost as of the last recalculation allows.
    pub fn throttle(&self, limits: &Limits) -> Throttle {
        if limits.cost_hard_limit == 0 {
            let concurrency = (limits.initial_concurrent != 0).then_some(limits.initial_concurrent);
            return Throttle {
                concurrency,
                delay: Duration::ZERO,
            };
        }
        if self.fraction >= 1.0 {
            return Throttle {
                concurrency: Some(0),
                delay: Duration::ZERO,
            };
        }
        let concurrency = (limits.initial_concurrent != 0).then(|| {
            let target = ((1.0 - self.fraction) * limits.initial_concurrent as f64).ceil();
            (target as u32).max(1)
        });
        Throttle {
            concurrency,
            delay: limits.request_sleep.mul_f64(self.fraction),
        }
    }

    /// True when the session has reached the hard limit and must be cut off.
    pub fn excessive(&self, limits: &Limits) -> bool {
        limits.cost_hard_limit != 0 && self.fraction >= 1.0
    }
}

/// The subnet a peer is billed with: /24 for IPv4 and /48 for IPv6 by default.
///
/// Private and link-local peers and the loopback addresses 127.0.0.1 and ::1 form no group, as
/// in ElectrumX: behind a local proxy or a load balancer every client comes from one of them.
/// The rest of 127.0.0.0/8, where no proxy connects from, is grouped like public addresses.
pub fn group_of(ip: IpAddr, limits: &Limits) -> Option<(IpAddr, u8)> {
    match ip {
        IpAddr::V4(v4) => {
            let proxy = v4 == std::net::Ipv4Addr::LOCALHOST;
            if v4.is_private() || proxy || v4.is_link_local() || v4.is_unspecified() {
                return None;
            }
            let bits = limits.subnet_ipv4.min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            Some((IpAddr::V4((u32::from(v4) & mask).into()), bits))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return group_of(IpAddr::V4(v4), limits);
            }
            let seg0 = v6.segments()[0];
            let private = v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80;
            if private {
                return None;
            }
            let bits = limits.subnet_ipv6.min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            Some((IpAddr::V6((u128::from(v6) & mask).into()), bits))
        }
    }
}

/// Cost left behind in a group by sessions that have closed; it decays at
/// `COST_HARD_LIMIT / 5000` per second, as ElectrumX refunds it.
#[derive(Debug)]
pub struct Retained {
    cost: f64,
    at: Instant,
}

impl Retained {
    /// No retained cost yet.
    pub fn new(now: Instant) -> Self {
        Retained { cost: 0.0, at: now }
    }

    /// The retained cost at `now`.
    pub fn value(&mut self, now: Instant, limits: &Limits) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.cost = (self.cost - elapsed * limits.cost_hard_limit as f64 / 5000.0).max(0.0);
        self.at = now;
        self.cost
    }

    /// Adds the final cost of a departing session.
    pub fn add(&mut self, now: Instant, cost: f64, limits: &Limits) {
        let current = self.value(now, limits);
        self.cost = current + cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_between_soft_and_hard_limits() {
        let limits = Limits::default();
        let t0 = Instant::now();
        let mut m = CostMeter::new(t0);
        m.recalc(t0, 0.0, 0, &limits);
        assert_eq!(m.throttle(&limits).concurrency, Some(10));
        assert_eq!(m.throttle(&limits).delay, Duration::ZERO);
        assert!(m.bump(5500.0));
        m.recalc(t0, 0.0, 0, &limits);
        let t = m.throttle(&limits);
        assert_eq!(t.concurrency, Some(5));
        assert_eq!(t.delay, Duration::from_millis(1250));
        // Group cost counts too.
        m.recalc(t0, 4500.0, 0, &limits);
        assert!(m.excessive(&limits));
        // One second decays 1 unit at the default hard limit.
        m.recalc(t0 + Duration::from_secs(500), 0.0, 0, &limits);
        assert!((m.cost() - 5000.0).abs() < 1e-6);
    }

    #[test]
    fn hard_limit_zero_disables_cost_control() {
        let limits = Limits {
            cost_hard_limit: 0,
            ..Limits::default()
        };
        let t0 = Instant::now();
        let mut m = CostMeter::new(t0);
        m.bump(1e9);
        m.recalc(t0, 0.0, 0, &limits);
        assert!(!m.excessive(&limits));
        assert_eq!(m.throttle(&limits).concurrency, Some(10));
    }

    #[test]
    fn groups_by_subnet_and_exempts_private_peers() {
        let l = Limits::default();
        let a = group_of("8.8.8.8".parse().unwrap(), &l);
        let b = group_of("8.8.8.200".parse().unwrap(), &l);
        let c = group_of("8.8.9.1".parse().unwrap(), &l);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(group_of("127.0.0.1".parse().unwrap(), &l), None);
        let lo = group_of("127.0.0.2".parse().unwrap(), &l);
        assert_eq!(lo, Some(("127.0.0.0".parse().unwrap(), 24)));
        assert_eq!(lo, group_of("127.0.0.77".parse().unwrap(), &l));
        assert_ne!(lo, group_of("127.0.1.2".parse().unwrap(), &l));
        assert_eq!(group_of("192.168.1.1".parse().unwrap(), &l), None);
        let x = group_of("2001:db8:1:2::1".parse().unwrap(), &l);
        let y = group_of("2001:db8:1:ffff::1".parse().unwrap(), &l);
        let z = group_of("2001:db8:2::1".parse().unwrap(), &l);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!(group_of("::1".parse().unwrap(), &l), None);
    }
}
