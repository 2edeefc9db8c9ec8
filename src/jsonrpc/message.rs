//! The JSON-RPC dialect Electrum wallets speak (aiorpcX's "loose" mode): requests with or without
//! `"jsonrpc"`, string or number ids, notifications, batches, and ElectrumX's exact error texts;
//! and the compact JSON-RPC 2.0 messages the server writes back.

use super::{py_str, RpcError};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_float_or_huge_integer_id_comes_back_as_the_same_number() {
        // A fuzzing finding: the default float parser read "2.333333333e49" one unit in the
        // last place off, so the echoed id parsed to another number.
        for id in [
            "23333333330000000000000000000000000000001388309645130744900",
            "2.333333333e49",
            "0.1",
            "1e-300",
            "123456789.12345678",
        ] {
            let line = format!(r#"{{"method":"server.ping","id":{id}}}"#);
            let Message::Single(Item::Request(r)) = parse_line(line.as_bytes()) else {
                panic!("not a request: {line}")
            };
            let sent = r.id.unwrap();
            let answer = encode_result(&sent, &Value::Null);
            let back: Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(back["id"], sent, "{id}");
            let expected: f64 = id.parse().unwrap();
            assert_eq!(back["id"].as_f64(), Some(expected), "{id}");
        }
    }

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
    fn encodes_compact_2_0_messages() {
        assert_eq!(
            encode_result(&json!("1"), &json!(null)),
            br#"{"jsonrpc":"2.0","result":null,"id":"1"}"#.to_vec()
        );
        assert_eq!(
            encode_error(&Value::Null, &RpcError::response_too_large(1_000_000)),
            br#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"response too large (over 1,000,000 bytes"},"id":null}"#.to_vec()
        );
    }
}
