//! The loop's periodic work: per-session timers (delayed requests), the regular tick
//! (timeouts, cost decay, lingering closes, the session summary) and certificate reloads.

use super::EventLoop;
use crate::server::session::{Effects, Shared};
use crate::server::settings::Level;
use crate::server::tls::Reload;
use std::cmp::Reverse;
use std::time::Instant;

impl EventLoop {
    /// Ticks the sessions whose own timer (a delayed request, held work) is due.
    pub(super) fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, index, serial))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let mut eff = Effects::default();
            let shared = Shared {
                settings: &self.settings,
                tip: self.tip.as_ref(),
                epoch: self.epoch,
            };
            match self.conns.get_mut(index) {
                Some(Some(conn)) if conn.session.serial() == serial && conn.timer_at == Some(t) => {
                    conn.timer_at = None;
                    conn.session.tick(now, &shared, &mut eff);
                }
                _ => continue,
            }
            self.apply(index, eff, now);
        }
    }

    /// Periodic work on every connection: timeouts, cost decay, lingering closes.
    pub(super) fn tick(&mut self, now: Instant) {
        if !self.settings.tls_poll.is_zero() && now >= self.next_tls_poll {
            self.next_tls_poll = now + self.settings.tls_poll;
            if let Some(tls) = &mut self.tls {
                let result = tls.poll();
                self.log_reload(&result, "the files changed");
            }
        }
        if !self.settings.log_sessions.is_zero() && now >= self.next_summary {
            self.next_summary = now + self.settings.log_sessions;
            self.log_summary(now);
        }
        self.recalc_all(now);
        self.expire_headers(now);
        for index in 0..self.conns.len() {
            let mut eff = Effects::default();
            let shared = Shared {
                settings: &self.settings,
                tip: self.tip.as_ref(),
                epoch: self.epoch,
            };
            let Some(Some(conn)) = self.conns.get_mut(index) else {
                continue;
            };
            if let Some(until) = conn.linger_until {
                if now >= until {
                    self.close(index);
                }
                continue;
            }
            if conn.proxy.is_some() {
                continue; // Not a session until its PROXY header arrives.
            }
            conn.session.tick(now, &shared, &mut eff);
            self.apply(index, eff, now);
        }
    }

    /// Counts and logs the outcome of a certificate reload.
    pub(super) fn log_reload(&mut self, result: &Reload, why: &str) {
        match result {
            Reload::Unchanged => {}
            Reload::Loaded => self.counters.tls_reloads += 1,
            Reload::Kept(_) => self.counters.tls_reload_failures += 1,
        }
        let log = &self.settings.logger;
        match result {
            Reload::Unchanged => {}
            Reload::Loaded => log.log(
                Level::Info,
                &format!("TLS certificate reloaded ({why}); new connections use it"),
            ),
            Reload::Kept(e) => log.log(
                Level::Error,
                &format!("TLS certificate not reloaded ({why}), keeping the previous one: {e}"),
            ),
        }
    }
}
