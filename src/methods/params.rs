//! Argument coercion with ElectrumX's rules and error texts.
//!
//! ElectrumX converts integers with Python's `int()` (so `"210"`, `5.7` and `true` are
//! accepted), checks booleans by value, and parses hex with `bytes.fromhex`, which skips ASCII
//! whitespace between byte pairs. Every failure is a code-1 (`BAD_REQUEST`) error whose text
//! quotes the value as Python's `str()` prints it.

use serde_json::Value;

use crate::chain::hash::hex_digit;
use crate::chain::Hash32;
use crate::jsonrpc::py_str;
use crate::jsonrpc::RpcError;

/// A non-negative integer parameter (`non_negative_integer` in ElectrumX).
///
/// Values beyond `u64` saturate; they are out of every range the methods check anyway.
pub fn non_negative_integer(value: &Value) -> Result<u64, RpcError> {
    match python_int(value) {
        Some(PyInt::NonNegative(n)) => Ok(n),
        Some(PyInt::Negative(text)) => Err(RpcError::bad_request(format!(
            "{text} should be a non-negative integer"
        ))),
        None => Err(RpcError::bad_request(format!(
            "{} should be a non-negative integer",
            py_str(value)
        ))),
    }
}

/// An optional non-negative integer that defaults to 0 when absent.
pub fn non_negative_integer_or_zero(value: Option<&Value>) -> Result<u64, RpcError> {
    value.map_or(Ok(0), non_negative_integer)
}

/// What Python's `int(value)` gives: a non-negative number, a negative one (with the text
/// Python would print for it), or a failure.
pub enum PyInt {
    NonNegative(u64),
    Negative(String),
}

/// Python's `int(value)` for a JSON value: booleans, numbers (truncated) and decimal text.
pub fn python_int(value: &Value) -> Option<PyInt> {
    match value {
        Value::Bool(b) => Some(PyInt::NonNegative(u64::from(*b))),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(PyInt::NonNegative(u))
            } else if let Some(i) = n.as_i64() {
                Some(PyInt::Negative(i.to_string()))
            } else {
                let f = n.as_f64()?;
                if !f.is_finite() {
                    return None;
                }
                let t = f.trunc();
                if t >= 0.0 {
                    // `as` saturates at u64::MAX, which is out of every range checked later.
                    Some(PyInt::NonNegative(t as u64))
                } else {
                    Some(PyInt::Negative(format!("{t:.0}")))
                }
            }
        }
        Value::String(s) => parse_int_text(s),
        _ => None,
    }
}

/// Python `int(str)`: surrounding whitespace, an optional sign, decimal digits with single
/// underscores between them.
fn parse_int_text(s: &str) -> Option<PyInt> {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let trimmed = clean.trim_start_matches('0');
    if negative && !trimmed.is_empty() {
        return Some(PyInt::Negative(format!("-{trimmed}")));
    }
    Some(PyInt::NonNegative(clean.parse::<u64>().unwrap_or(u64::MAX)))
}

/// A boolean parameter: only JSON `true`/`false`; `name` goes into the error text.
pub fn boolean(value: Option<&Value>, name: &str) -> Result<bool, RpcError> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RpcError::bad_request(format!(
            "\"{name}\" must be a boolean"
        ))),
    }
}

/// Python's `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed before each pair.
pub fn python_fromhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let hi = hex_digit(b[i])?;
        let lo = hex_digit(*b.get(i + 1)?)?;
        out.push(hi << 4 | lo);
        i += 2;
    }
    Some(out)
}

/// 32 bytes of hex in display order, returned in internal (reversed) order.
fn display_hash(value: &Value) -> Option<Hash32> {
    let bytes = python_fromhex(value.as_str()?)?;
    let mut h: Hash32 = bytes.try_into().ok()?;
    h.reverse();
    Some(h)
}

/// A transaction hash parameter (`assert_tx_hash`), returned in internal byte order.
pub fn tx_hash(value: &Value) -> Result<Hash32, RpcError> {
    display_hash(value).ok_or_else(|| {
        RpcError::bad_request(format!("{} should be a transaction hash", py_str(value)))
    })
}

/// A scripthash parameter (`scripthash_to_hashX`), returned as sha256(script) (internal order,
/// the order the index and the mempool use).
pub fn scripthash(value: &Value) -> Result<Hash32, RpcError> {
    display_hash(value).ok_or_else(|| {
        RpcError::bad_request(format!("{} is not a valid script hash", py_str(value)))
    })
}

/// A raw transaction parameter: a string of hex digits (checked before the node sees it).
pub fn hex_string(value: &Value) -> Result<&str, RpcError> {
    match value.as_str() {
        Some(s) if python_fromhex(s).is_some() => Ok(s),
        _ => Err(RpcError::bad_request(format!(
            "{} should be a hex string",
            py_str(value)
        ))),
    }
}

/// Python's `{n:,d}`: an integer with `,` thousands separators, sign kept.
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = crate::jsonrpc::thousands(u64::try_from(n.unsigned_abs()).unwrap_or(u64::MAX));
    if n < 0 {
        format!("-{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_follow_python_int() {
        assert_eq!(non_negative_integer(&json!(5)).unwrap(), 5);
        assert_eq!(non_negative_integer(&json!("210")).unwrap(), 210);
        assert_eq!(non_negative_integer(&json!(" 7 ")).unwrap(), 7);
        assert_eq!(non_negative_integer(&json!("1_000")).unwrap(), 1000);
        assert_eq!(non_negative_integer(&json!(5.7)).unwrap(), 5);
        assert_eq!(non_negative_integer(&json!(true)).unwrap(), 1);
        assert_eq!(non_negative_integer(&json!("-0")).unwrap(), 0);
        let msg = |v: Value| non_negative_integer(&v).unwrap_err().message;
        assert_eq!(msg(json!(-1)), "-1 should be a non-negative integer");
        assert_eq!(msg(json!("-1")), "-1 should be a non-negative integer");
        assert_eq!(msg(json!("-007")), "-7 should be a non-negative integer");
        assert_eq!(msg(json!("abc")), "abc should be a non-negative integer");
        assert_eq!(msg(json!(null)), "None should be a non-negative integer");
        assert_eq!(msg(json!([1])), "[1] should be a non-negative integer");
        assert_eq!(msg(json!("1.5")), "1.5 should be a non-negative integer");
    }

    #[test]
    fn hashes_and_booleans() {
        let hex = "00".repeat(31) + "01";
        let h = tx_hash(&json!(hex)).unwrap();
        assert_eq!(h[0], 1);
        assert!(tx_hash(&json!(hex.to_uppercase())).is_ok());
        assert_eq!(
            tx_hash(&json!("abcd")).unwrap_err().message,
            "abcd should be a transaction hash"
        );
        assert_eq!(
            scripthash(&json!(5)).unwrap_err().message,
            "5 is not a valid script hash"
        );
        assert_eq!(python_fromhex("ab cd"), Some(vec![0xab, 0xcd]));
        assert_eq!(python_fromhex("a bcd"), None);
        assert!(boolean(Some(&json!(true)), "verbose").unwrap());
        assert_eq!(
            boolean(Some(&json!(1)), "verbose").unwrap_err().message,
            "\"verbose\" must be a boolean"
        );
        assert_eq!(
            hex_string(&json!("zz")).unwrap_err().message,
            "zz should be a hex string"
        );
        assert_eq!(thousands(-1i64), "-1");
        assert_eq!(thousands(1_000_000u64), "1,000,000");
    }
}
