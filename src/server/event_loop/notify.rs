//! Subscriptions and notifications: which connections subscribe to which scripthash, the new
//! tip sent to header subscribers, and one status job at a time per touched scripthash.

use super::{ChainEvent, EventLoop};
use crate::jsonrpc::encode_notification;
use crate::server::pool::{Job, Outcome, Route, Task};
use crate::server::session::Effects;
use serde_json::json;
use std::time::Instant;

impl EventLoop {
    /// Records that the session at `index` (with `serial`) subscribes to `sh`.
    pub(super) fn subscribe(&mut self, sh: &[u8; 32], index: usize, serial: u64) {
        self.subscribers
            .entry(*sh)
            .or_default()
            .push((index, serial));
    }

    /// Forgets that the session at `index` (with `serial`) subscribes to `sh`.
    pub(super) fn unindex(&mut self, sh: &[u8; 32], index: usize, serial: u64) {
        if let Some(list) = self.subscribers.get_mut(sh) {
            list.retain(|&(i, s)| !(i == index && s == serial));
            if list.is_empty() {
                self.subscribers.remove(sh);
            }
        }
    }

    /// Computes `sh`'s status for its subscribers, once at a time per scripthash.
    pub(super) fn request_notify(&mut self, sh: [u8; 32]) {
        if !self.subscribers.contains_key(&sh) {
            return;
        }
        if self.notify_running.contains(&sh) {
            self.notify_again.insert(sh);
            return;
        }
        self.notify_running.insert(sh);
        let _ = self.jobs.send(Job {
            route: Route::Notify { scripthash: sh },
            task: Task::Status { scripthash: sh },
        });
    }

    /// A new tip goes to header subscribers at once; touched scripthashes get status jobs.
    pub(super) fn on_chain_event(&mut self, ev: ChainEvent) {
        self.epoch += 1;
        if !ev.tip.is_null() && self.tip.as_ref() != Some(&ev.tip) {
            let message = encode_notification("blockchain.headers.subscribe", &json!([ev.tip]));
            self.tip = Some(ev.tip);
            for index in 0..self.conns.len() {
                if let Some(Some(conn)) = self.conns.get_mut(index) {
                    conn.session.notify_headers(&message, &self.settings.limits);
                    self.flush(index);
                }
            }
        }
        for sh in ev.touched {
            self.request_notify(sh);
        }
    }

    /// A status computed for a touched scripthash: tell its subscribers, and compute it again
    /// if it was touched once more meanwhile.
    pub(super) fn status_done(&mut self, scripthash: [u8; 32], outcome: &Outcome, now: Instant) {
        self.notify_running.remove(&scripthash);
        if let Outcome::Status(status) = outcome {
            let targets = self
                .subscribers
                .get(&scripthash)
                .cloned()
                .unwrap_or_default();
            for (index, serial) in targets {
                let mut eff = Effects::default();
                match self.conns.get_mut(index) {
                    Some(Some(conn)) if conn.session.serial() == serial => {
                        let limits = &self.settings.limits;
                        conn.session
                            .notify_status(&scripthash, status, limits, &mut eff);
                    }
                    _ => continue,
                }
                self.apply(index, eff, now);
            }
        }
        if self.notify_again.remove(&scripthash) {
            self.request_notify(scripthash);
        }
    }
}
