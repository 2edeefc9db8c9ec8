//! Counters of the serving side (requests by method, errors, costs, sessions), rendered in the
//! Prometheus text format for the metrics endpoint and summarised in the periodic log line.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Methods counted under their own name; anything else is counted as `other`, so a client
/// cannot grow the label set by sending made-up names.
const METHODS: &[&str] = &[
    "server.version",
    "server.banner",
    "server.donation_address",
    "server.features",
    "server.peers.subscribe",
    "server.add_peer",
    "server.ping",
    "blockchain.headers.subscribe",
    "blockchain.block.header",
    "blockchain.block.headers",
    "blockchain.block.count",
    "blockchain.estimatefee",
    "blockchain.relayfee",
    "blockchain.scripthash.get_balance",
    "blockchain.scripthash.get_history",
    "blockchain.scripthash.get_mempool",
    "blockchain.scripthash.listunspent",
    "blockchain.scripthash.subscribe",
    "blockchain.scripthash.unsubscribe",
    "blockchain.transaction.broadcast",
    "blockchain.transaction.get",
    "blockchain.transaction.get_merkle",
    "blockchain.transaction.id_from_pos",
    "mempool.get_fee_histogram",
    "blockchain.keva.get_keyvalues",
    "blockchain.keva.get_hashtag",
    "blockchain.keva.get_keyvalue_reactions",
    "blockchain.keva.get_transactions_info",
];

/// The metric label of a method name.
pub fn label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Running totals kept by the event loop.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests received, by method label.
    pub requests: BTreeMap<&'static str, u64>,
    /// Connections accepted, by service name.
    pub accepted: BTreeMap<&'static str, u64>,
    /// Connections refused at `MAX_SESSIONS`.
    pub refused: u64,
    /// Error responses, bytes and requests of sessions that have closed.
    pub closed_errors: u64,
    /// Bytes received by sessions that have closed.
    pub closed_bytes_in: u64,
    /// Bytes sent by sessions that have closed.
    pub closed_bytes_out: u64,
    /// Cost accumulated by sessions that have closed (their final cost).
    pub closed_cost: f64,
    /// Connections from `PROXY_PROTOCOL_FROM` closed for a missing or invalid PROXY header.
    pub proxy_refused: u64,
    /// Certificate reloads that succeeded.
    pub tls_reloads: u64,
    /// Certificate reloads that kept the old certificate.
    pub tls_reload_failures: u64,
}

/// A snapshot of the live sessions for rendering.
#[derive(Debug, Default, Clone)]
pub struct Live {
    /// Open Electrum sessions, by service name.
    pub sessions: BTreeMap<&'static str, u64>,
    /// Sessions with at least one subscription.
    pub subscribed: u64,
    /// Scripthash subscriptions over all sessions.
    pub subscriptions: u64,
    /// Error responses of open sessions.
    pub errors: u64,
    /// Bytes received by open sessions.
    pub bytes_in: u64,
    /// Bytes sent by open sessions.
    pub bytes_out: u64,
    /// Current (decayed) cost of open sessions.
    pub cost: f64,
    /// Requests waiting or running.
    pub pending: u64,
    /// Subnet groups with cost.
    pub groups: u64,
    /// Peers verified and listed.
    pub peers_good: u64,
    /// Peers known (listed or not).
    pub peers_known: u64,
    /// Seconds since the server started.
    pub uptime: u64,
}

/// Renders the server's metrics in the Prometheus text exposition format (version 0.0.4).
pub fn render(c: &Counters, live: &Live) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let plain = |v: String| vec![(String::new(), v)];
    family(
        "keva_electrum_requests_total",
        "counter",
        "Requests received, by method.",
        &c.requests
            .iter()
            .map(|(m, n)| (format!("{{method=\"{m}\"}}"), n.to_string()))
            .collect::<Vec<_>>(),
    );
    family(
        "keva_electrum_errors_total",
        "counter",
        "Error responses sent.",
        &plain((c.closed_errors + live.errors).to_string()),
    );
    family(
        "keva_electrum_cost_total",
        "counter",
        "Resource cost charged to sessions (ElectrumX units; open sessions at their current cost).",
        &plain(format!("{:.1}", c.closed_cost + live.cost)),
    );
    family(
        "keva_electrum_sessions",
        "gauge",
        "Open Electrum sessions, by service.",
        &live
            .sessions
            .iter()
            .map(|(p, n)| (format!("{{service=\"{p}\"}}"), n.to_string()))
            .collect::<Vec<_>>(),
    );
    family(
        "keva_electrum_sessions_accepted_total",
        "counter",
        "Connections accepted, by service.",
        &c.accepted
            .iter()
            .map(|(p, n)| (format!("{{service=\"{p}\"}}"), n.to_string()))
            .collect::<Vec<_>>(),
    );
    family(
        "keva_electrum_sessions_refused_total",
        "counter",
        "Connections refused because MAX_SESSIONS was reached.",
        &plain(c.refused.to_string()),
    );
    family(
        "keva_electrum_proxy_refused_total",
        "counter",
        "Connections from PROXY_PROTOCOL_FROM closed for a missing or invalid PROXY header.",
        &plain(c.proxy_refused.to_string()),
    );
    family(
        "keva_electrum_subscriptions",
        "gauge",
        "Scripthash subscriptions of open sessions.",
        &plain(live.subscriptions.to_string()),
    );
    family(
        "keva_electrum_pending_requests",
        "gauge",
        "Requests waiting or running.",
        &plain(live.pending.to_string()),
    );
    family(
        "keva_electrum_received_bytes_total",
        "counter",
        "Bytes received from clients.",
        &plain((c.closed_bytes_in + live.bytes_in).to_string()),
    );
    family(
        "keva_electrum_sent_bytes_total",
        "counter",
        "Bytes sent to clients.",
        &plain((c.closed_bytes_out + live.bytes_out).to_string()),
    );
    family(
        "keva_electrum_peers",
        "gauge",
        "Peer servers verified and listed.",
        &plain(live.peers_good.to_string()),
    );
    family(
        "keva_electrum_tls_reloads_total",
        "counter",
        "Certificate reloads, by result.",
        &[
            ("{result=\"loaded\"}".to_string(), c.tls_reloads.to_string()),
            (
                "{result=\"kept_old\"}".to_string(),
                c.tls_reload_failures.to_string(),
            ),
        ],
    );
    family(
        "keva_electrum_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        &plain(live.uptime.to_string()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(label("server.ping"), "server.ping");
        assert_eq!(
            label("blockchain.keva.get_hashtag"),
            "blockchain.keva.get_hashtag"
        );
        assert_eq!(label("made.up"), "other");
    }

    #[test]
    fn renders_prometheus_text() {
        let mut c = Counters::default();
        *c.requests.entry("server.ping").or_default() += 3;
        c.closed_errors = 2;
        let live = Live {
            errors: 1,
            sessions: [("tcp", 4)].into_iter().collect(),
            ..Live::default()
        };
        let text = render(&c, &live);
        assert!(text.contains("keva_electrum_requests_total{method=\"server.ping\"} 3\n"));
        assert!(text.contains("keva_electrum_errors_total 3\n"));
        assert!(text.contains("# TYPE keva_electrum_sessions gauge\n"));
        assert!(text.contains("keva_electrum_sessions{service=\"tcp\"} 4\n"));
    }
}
