//! Cost groups: sessions from one subnet (`SESSION_GROUP_BY_SUBNET_*`) share one bill, so
//! opening many connections does not help an abuser; a departed member's cost stays behind.

use super::EventLoop;
use crate::server::cost::Retained;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// The sessions of one subnet and the decaying cost of those that left.
pub(super) struct Group {
    pub(super) members: Vec<usize>,
    pub(super) retained: Retained,
}

impl EventLoop {
    /// Adds the connection at `index` to group `g`.
    pub(super) fn join_group(&mut self, g: (IpAddr, u8), index: usize, now: Instant) {
        self.groups
            .entry(g)
            .or_insert_with(|| Group {
                members: Vec::new(),
                retained: Retained::new(now),
            })
            .members
            .push(index);
    }

    /// Removes a closing connection from group `g`, leaving its `cost` behind to decay.
    pub(super) fn leave_group(&mut self, g: (IpAddr, u8), index: usize, cost: f64, now: Instant) {
        let limits = &self.settings.limits;
        if let Some(group) = self.groups.get_mut(&g) {
            group.members.retain(|m| *m != index);
            group.retained.add(now, cost, limits);
            if group.members.is_empty() && group.retained.value(now, limits) == 0.0 {
                self.groups.remove(&g);
            }
        }
    }

    /// Recomputes every session's throttle, adding the cost of the rest of its subnet group.
    pub(super) fn recalc_all(&mut self, now: Instant) {
        let keys: Vec<(IpAddr, u8)> = self.groups.keys().copied().collect();
        let totals: HashMap<(IpAddr, u8), f64> = keys
            .into_iter()
            .map(|g| (g, self.group_total(g, now)))
            .collect();
        let limits = &self.settings.limits;
        for conn in self.conns.iter_mut().flatten() {
            let extra = conn
                .group
                .and_then(|g| totals.get(&g))
                .map_or(0.0, |t| t - conn.session.cost());
            conn.session.recalc_cost(now, extra, limits);
        }
    }

    /// Recomputes one session's throttle after its cost moved.
    pub(super) fn recalc_group_member(&mut self, index: usize, now: Instant) {
        let Some(g) = self.conns.get(index).and_then(|c| c.as_ref()?.group) else {
            return;
        };
        let total = self.group_total(g, now);
        if let Some(Some(conn)) = self.conns.get_mut(index) {
            let extra = total - conn.session.cost();
            conn.session.recalc_cost(now, extra, &self.settings.limits);
        }
    }

    /// A group's cost: its members' costs plus what departed members left behind.
    pub(super) fn group_total(&mut self, g: (IpAddr, u8), now: Instant) -> f64 {
        let Some(group) = self.groups.get_mut(&g) else {
            return 0.0;
        };
        let mut total = group.retained.value(now, &self.settings.limits);
        for m in &group.members {
            if let Some(Some(c)) = self.conns.get(*m) {
                total += c.session.cost();
            }
        }
        total
    }
}
