//! The JSON-RPC dialect Electrum wallets speak (aiorpcX's "loose" mode): requests with or without
//! `"jsonrpc"`, string or number ids, notifications, batches, and ElectrumX's exact error texts.

use serde_json::{Map, Value};
use std::fmt;

/// A JSON-RPC error object; methods return it and it goes to the client as `{code, message}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC or ElectrumX error code (see the associated constants).
    pub code: i64,
    /// Human-readable text, ElectrumX's wording where one exists.
    pub message: String,
}

impl RpcError {
    /// The line was not JSON or not UTF-8.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON was not a request object (also used for oversized responses).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method, or `method` is not a string.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong number or names of arguments.
    pub const INVALID_ARGS: i64 = -32602;
    /// A handler failed unexpectedly.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The session used too many resources and is being closed.
    pub const EXCESSIVE_RESOURCE_USAGE: i64 = -101;
    /// The request took longer than `REQUEST_TIMEOUT`.
    pub const SERVER_BUSY: i64 = -102;
    /// ElectrumX `BAD_REQUEST`: every semantic or validation error of a method.
    pub const BAD_REQUEST: i64 = 1;
    /// ElectrumX `DAEMON_ERROR`: the node refused or failed.
    pub const DAEMON_ERROR: i64 = 2;

    /// An error with any code.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// Code 1, for invalid values of otherwise well-formed requests.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Self::BAD_REQUEST, message)
    }

    /// Code 2, for failures reported by the node.
    pub fn daemon_error(message: impl Into<String>) -> Self {
        Self::new(Self::DAEMON_ERROR, message)
    }

    /// -32602, for argument-count and argument-name errors.
    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_ARGS, message)
    }

    /// -32601 `unknown method "<name>"`, what a backend answers for a method it does not serve.
    pub fn unknown_method(method: &str) -> Self {
        Self::new(
            Self::METHOD_NOT_FOUND,
            format!("unknown method \"{method}\""),
        )
    }

    /// -32603, for a handler that failed unexpectedly.
    pub fn internal() -> Self {
        Self::new(Self::INTERNAL_ERROR, "internal server error")
    }

    /// -32600 replacing a response larger than `MAX_SEND` (ElectrumX's text, sic).
    pub fn response_too_large(max_send: usize) -> Self {
        Self::new(
            Self::INVALID_REQUEST,
            format!(
                "response too large (over {} bytes",
                thousands(max_send as u64)
            ),
        )
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// One member of an incoming message.
#[derive(Debug, PartialEq)]
pub enum Item {
    /// A request to run; `id: None` marks a notification, which is run but never answered.
    Request(Request),
    /// A malformed member; `reply_id: None` means no reply at all (a notification).
    Invalid {
        /// The id to answer with (`null` when none could be read).
        reply_id: Option<Value>,
        /// What is wrong.
        error: RpcError,
    },
    /// Something that is not a request (a response object); dropped silently.
    Ignored,
}

/// A well-formed request.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The id to echo unchanged, or `None` for a notification.
    pub id: Option<Value>,
    /// Method name.
    pub method: String,
    /// Positional array or named object; `[]` when absent.
    pub params: Value,
}

/// A whole line, parsed.
#[derive(Debug, PartialEq)]
pub enum Message {
    /// A single object.
    Single(Item),
    /// A non-empty array.
    Batch(Vec<Item>),
    /// The line could not be read at all; answered with id null.
    Error(RpcError),
}

/// Parses one line (without its `\n`).
pub fn parse_line(line: &[u8]) -> Message {
    let Ok(text) = std::str::from_utf8(line) else {
        return Message::Error(RpcError::new(
            RpcError::PARSE_ERROR,
            "messages must be encoded in UTF-8",
        ));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Message::Error(RpcError::new(RpcError::PARSE_ERROR, "invalid JSON")),
    };
    match value {
        Value::Array(items) if items.is_empty() => {
            Message::Error(RpcError::new(RpcError::INVALID_REQUEST, "batch is empty"))
        }
        Value::Array(items) => Message::Batch(items.into_iter().map(parse_item).collect()),
        Value::Object(_) => Message::Single(parse_item(value)),
        _ => Message::Error(not_a_dictionary()),
    }
}

fn not_a_dictionary() -> RpcError {
    RpcError::new(
        RpcError::INVALID_REQUEST,
        "request object must be a dictionary",
    )
}

fn parse_item(value: Value) -> Item {
    let Value::Object(mut obj) = value else {
        return Item::Invalid {
            reply_id: Some(Value::Null),
            error: not_a_dictionary(),
        };
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(id @ (Value::Number(_) | Value::String(_) | Value::Bool(_))) => Some(id),
        Some(other) => {
            return Item::Invalid {
                reply_id: Some(Value::Null),
                error: RpcError::new(
                    RpcError::INVALID_REQUEST,
                    format!("invalid \"id\": {}", py_str(&other)),
                ),
            }
        }
    };
    let method = match obj.remove("method") {
        None => return Item::Ignored,
        Some(Value::String(m)) => m,
        Some(_) => {
            return Item::Invalid {
                reply_id: id,
                error: RpcError::new(RpcError::METHOD_NOT_FOUND, "method must be a string"),
            }
        }
    };
    let params = match obj.remove("params") {
        None => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p,
        Some(other) => {
            return Item::Invalid {
                reply_id: id,
                error: RpcError::invalid_args(format!(
                    "invalid request arguments: {}",
                    py_str(&other)
                )),
            }
        }
    };
    Item::Request(Request { id, method, params })
}

/// Binds positional or named params to a method's parameter list, with aiorpcX's error texts.
///
/// `required` and `optional` are the parameter names in positional order. The result has one
/// entry per name; `None` where an optional parameter was not given.
pub fn bind_params<'a>(
    method: &str,
    params: &'a Value,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Option<&'a Value>>, RpcError> {
    let total = required.len() + optional.len();
    match params {
        Value::Array(args) => {
            let s = if args.len() == 1 { "" } else { "s" };
            if args.len() < required.len() {
                return Err(RpcError::invalid_args(format!(
                    "{} argument{s} passed to method \"{method}\" but it requires {}",
                    args.len(),
                    required.len()
                )));
            }
            if args.len() > total {
                return Err(RpcError::invalid_args(format!(
                    "{} argument{s} passed to method {method} taking at most {total}",
                    args.len()
                )));
            }
            let mut out: Vec<Option<&Value>> = args.iter().map(Some).collect();
            out.resize(total, None);
            Ok(out)
        }
        Value::Object(named) => bind_named(method, named, required, optional),
        _ => Err(RpcError::invalid_args(format!(
            "invalid request arguments: {}",
            py_str(params)
        ))),
    }
}

fn bind_named<'a>(
    method: &str,
    named: &'a Map<String, Value>,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Option<&'a Value>>, RpcError> {
    let mut missing: Vec<String> = required
        .iter()
        .filter(|n| !named.contains_key(**n))
        .map(|n| format!("\"{n}\""))
        .collect();
    if !missing.is_empty() {
        missing.sort();
        let s = if missing.len() == 1 { "" } else { "s" };
        return Err(RpcError::invalid_args(format!(
            "method \"{method}\" requires parameter{s} {}",
            missing.join(", ")
        )));
    }
    let mut excess: Vec<String> = named
        .keys()
        .filter(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str()))
        .map(|k| format!("\"{k}\""))
        .collect();
    if !excess.is_empty() {
        excess.sort();
        let s = if excess.len() == 1 { "" } else { "s" };
        return Err(RpcError::invalid_args(format!(
            "method \"{method}\" does not take parameter{s} {}",
            excess.join(", ")
        )));
    }
    Ok(required
        .iter()
        .chain(optional)
        .map(|n| named.get(*n))
        .collect())
}

/// Encodes `{"jsonrpc":"2.0","result":…,"id":…}` without the trailing newline.
pub fn encode_result(id: &Value, result: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
    write_json(&mut out, result);
    out.extend_from_slice(b",\"id\":");
    write_json(&mut out, id);
    out.push(b'}');
    out
}

/// [`encode_result`] for a result already written as JSON text; the text's buffer becomes
/// the message's (spare capacity avoids a copy of a long reply).
pub fn encode_result_text(id: &Value, result: String) -> Vec<u8> {
    let mut out = result.into_bytes();
    out.splice(0..0, b"{\"jsonrpc\":\"2.0\",\"result\":".iter().copied());
    out.extend_from_slice(b",\"id\":");
    write_json(&mut out, id);
    out.push(b'}');
    out
}

/// Encodes `{"jsonrpc":"2.0","error":{"code":…,"message":…},"id":…}` without the newline.
pub fn encode_error(id: &Value, error: &RpcError) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":{\"code\":");
    out.extend_from_slice(error.code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    write_json(&mut out, &Value::String(error.message.clone()));
    out.extend_from_slice(b"},\"id\":");
    write_json(&mut out, id);
    out.push(b'}');
    out
}

/// Encodes a server→client notification without the newline.
pub fn encode_notification(method: &str, params: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    write_json(&mut out, &Value::String(method.to_string()));
    out.extend_from_slice(b",\"params\":");
    write_json(&mut out, params);
    out.push(b'}');
    out
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Serializing a `Value` into a Vec cannot fail: every key is a string and there is no I/O.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Formats a number with `,` thousands separators, as Python's `{:,d}` does in ElectrumX texts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Python's `str()` of a JSON value: strings bare, everything else as `repr()`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value, as ElectrumX prints values in its error texts.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_string(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let quote = if s.contains('\'') && !s.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(s.len() + 2);
            out.push(quote);
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_loose_requests_and_keeps_id_types() {
        let m = parse_line(br#"{"method":"server.ping","id":"7"}"#);
        assert_eq!(
            m,
            Message::Single(Item::Request(Request {
                id: Some(json!("7")),
                method: "server.ping".into(),
                params: json!([])
            }))
        );
        let m = parse_line(br#"{"jsonrpc":"2.0","method":"x","params":[1],"id":3}"#);
        let Message::Single(Item::Request(r)) = m else {
            panic!("not a request")
        };
        assert_eq!(r.id, Some(json!(3)));
        assert_eq!(r.params, json!([1]));
    }

    #[test]
    fn error_texts_match_electrumx() {
        assert_eq!(
            parse_line(b""),
            Message::Error(RpcError::new(-32700, "invalid JSON"))
        );
        assert_eq!(
            parse_line(b"\xff\xfe"),
            Message::Error(RpcError::new(-32700, "messages must be encoded in UTF-8"))
        );
        assert_eq!(
            parse_line(b"[]"),
            Message::Error(RpcError::new(-32600, "batch is empty"))
        );
        assert_eq!(
            parse_line(b"5"),
            Message::Error(RpcError::new(-32600, "request object must be a dictionary"))
        );
        assert_eq!(
            parse_line(br#"{"method":"m","id":{"a":[1,null]}}"#),
            Message::Single(Item::Invalid {
                reply_id: Some(Value::Null),
                error: RpcError::new(-32600, "invalid \"id\": {'a': [1, None]}")
            })
        );
        assert_eq!(
            parse_line(br#"{"method":5,"id":1}"#),
            Message::Single(Item::Invalid {
                reply_id: Some(json!(1)),
                error: RpcError::new(-32601, "method must be a string")
            })
        );
        assert_eq!(
            parse_line(br#"{"method":"m","params":"x","id":1}"#),
            Message::Single(Item::Invalid {
                reply_id: Some(json!(1)),
                error: RpcError::new(-32602, "invalid request arguments: x")
            })
        );
        assert_eq!(
            parse_line(br#"{"result":1,"id":1}"#),
            Message::Single(Item::Ignored)
        );
    }

    #[test]
    fn binds_params_like_aiorpcx() {
        let p = json!(["a"]);
        let e = bind_params("m", &p, &["x", "y"], &[]).unwrap_err();
        assert_eq!(
            e.message,
            "1 argument passed to method \"m\" but it requires 2"
        );
        let p = json!([true]);
        let e = bind_params("blockchain.headers.subscribe", &p, &[], &[]).unwrap_err();
        assert_eq!(
            e.message,
            "1 argument passed to method blockchain.headers.subscribe taking at most 0"
        );
        let p = json!({"b": 1});
        let e = bind_params("m", &p, &["a"], &["b"]).unwrap_err();
        assert_eq!(e.message, "method \"m\" requires parameter \"a\"");
        let p = json!({"a": 1, "z": 2, "q": 3});
        let e = bind_params("m", &p, &["a"], &["b"]).unwrap_err();
        assert_eq!(
            e.message,
            "method \"m\" does not take parameters \"q\", \"z\""
        );
        let p = json!({"a": 1});
        let v = bind_params("m", &p, &["a"], &["b"]).unwrap();
        assert_eq!(v, vec![Some(&json!(1)), None]);
    }

    #[test]
    fn encodes_compact_2_0_messages() {
        assert_eq!(
            encode_result(&json!("1"), &json!(null)),
            br#"{"jsonrpc":"2.0","result":null,"id":"1"}"#.to_vec()
        );
        assert_eq!(
            encode_error(&Value::Null, &RpcError::response_too_large(1_000_000)),
            br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"response too large (over 1,000,000 bytes"},"id":null}"#.to_vec()
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(py_str(&json!(["1.2", "1.3"])), "['1.2', '1.3']");
    }
}
