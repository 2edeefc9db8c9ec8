//! `server.version`: the client's name and the protocol version, negotiated as ElectrumX does.

use super::{Closing, Effects, ReplyTo, Session, Shared};
use crate::jsonrpc::{bind_params, py_str, RpcError};
use crate::server::settings::{PROTOCOL_MAX, PROTOCOL_MIN};
use serde_json::{json, Value};
use std::time::Instant;

impl Session {
    /// The protocol version in force (the lowest until `server.version`).
    pub(super) fn negotiated(&self) -> &[u32] {
        self.version.as_deref().unwrap_or(PROTOCOL_MIN)
    }

    /// Answers `server.version`: once per session, refusing `DROP_CLIENT` names and
    /// versions outside the served range.
    pub(super) fn version(
        &mut self,
        params: &Value,
        to: ReplyTo,
        now: Instant,
        shared: &Shared,
        eff: &mut Effects,
    ) {
        let limits = &shared.settings.limits;
        self.charge(0.5, now, limits, eff);
        if self.version.is_some() {
            let e = RpcError::bad_request("server.version already sent");
            return self.reply(to, Err(e), now, limits, eff);
        }
        let args = match bind_params(
            "server.version",
            params,
            &[],
            &["client_name", "protocol_version"],
        ) {
            Ok(a) => a,
            Err(e) => return self.reply(to, Err(e), now, limits, eff),
        };
        let name = match args[0] {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => py_str(other),
        };
        if let Some(filter) = &shared.settings.drop_client {
            if !name.is_empty() && filter.matches(&name) {
                let e = RpcError::bad_request(format!("unsupported client: {name}"));
                self.reply(to, Err(e), now, limits, eff);
                self.close(Closing::Flush);
                return;
            }
        }
        let requested = args[1].filter(|v| !v.is_null());
        match negotiate(requested) {
            Some(v) => {
                let reply = json!([shared.settings.server_version, version_string(&v)]);
                self.version = Some(v);
                self.client = name.chars().take(64).collect();
                self.reply(to, Ok(reply), now, limits, eff);
            }
            None => {
                let shown = requested.map_or_else(|| "None".to_string(), py_str);
                let e = RpcError::bad_request(format!("unsupported protocol version: {shown}"));
                self.reply(to, Err(e), now, limits, eff);
                self.close(Closing::Flush);
            }
        }
    }
}

/// ElectrumX `util.protocol_tuple`: "1.4.2" → [1, 4, 2]; anything unreadable → [0].
fn protocol_tuple(value: &Value) -> Vec<u32> {
    let Value::String(s) = value else {
        return vec![0];
    };
    s.split('.')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .unwrap_or_else(|_| vec![0])
}

/// ElectrumX `util.protocol_version`: the version to speak, or `None` when unsupported.
fn negotiate(requested: Option<&Value>) -> Option<Vec<u32>> {
    let (client_min, client_max) = match requested {
        None => (PROTOCOL_MIN.to_vec(), PROTOCOL_MIN.to_vec()),
        Some(Value::Array(pair)) if pair.len() == 2 => {
            (protocol_tuple(&pair[0]), protocol_tuple(&pair[1]))
        }
        Some(v) => (protocol_tuple(v), protocol_tuple(v)),
    };
    let result = client_max.min(PROTOCOL_MAX.to_vec());
    let floor = client_min.max(PROTOCOL_MIN.to_vec());
    (result >= floor && result != [0]).then_some(result)
}

/// ElectrumX `util.version_string`: at least two components.
pub(super) fn version_string(v: &[u32]) -> String {
    let mut parts: Vec<String> = v.iter().map(u32::to_string).collect();
    while parts.len() < 2 {
        parts.push("0".to_string());
    }
    parts.join(".")
}
