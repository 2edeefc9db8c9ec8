//! Keva pages written straight as JSON text, each object's fields in the order the reference
//! server writes them: a page of 25 items needs no tree of values, and the bytes on the wire
//! match the reference's field for field.

use base64::Engine as _;
use serde_json::Value;

use super::super::internal_failure;
use super::view::op_type;
use crate::chain::keva::KevaOp;
use crate::chain::Hash32;
use crate::jsonrpc::RpcError;

/// JSON text under construction; commas are placed by the writer.
pub struct Text(Vec<u8>);

impl Text {
    /// An empty text with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Text {
        Text(Vec::with_capacity(bytes))
    }

    /// Starts an object (`{`) or array (`[`), as a value of the last key or an element.
    pub fn open(&mut self, bracket: u8) {
        self.separate();
        self.0.push(bracket);
    }

    /// Ends the innermost object (`}`) or array (`]`).
    pub fn close(&mut self, bracket: u8) {
        self.0.push(bracket);
    }

    /// Writes `"name":`, the key of the next value.
    pub fn key(&mut self, name: &str) {
        self.separate();
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
    }

    /// A string field, escaped as serde_json escapes it (most strings need nothing).
    pub fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        if value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut self.0, value);
        } else {
            self.0.push(b'"');
            self.0.extend_from_slice(value.as_bytes());
            self.0.push(b'"');
        }
    }

    /// An integer field.
    pub fn num(&mut self, name: &str, value: impl Into<i128>) {
        self.key(name);
        let value = value.into();
        if value < 0 {
            self.0.push(b'-');
        }
        let mut n = value.unsigned_abs();
        let mut digits = [0u8; 40];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.0.extend_from_slice(&digits[at..]);
    }

    /// A field holding any JSON value.
    pub fn value(&mut self, name: &str, value: &Value) {
        self.key(name);
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    /// A field holding `data` in base64, as the reference encodes keys and values.
    pub fn base64(&mut self, name: &str, data: &[u8]) {
        self.key(name);
        self.0.push(b'"');
        let start = self.0.len();
        let engine = &base64::engine::general_purpose::STANDARD;
        self.0.resize(
            start + base64::encoded_len(data.len(), true).unwrap_or(0),
            0,
        );
        let written = engine.encode_slice(data, &mut self.0[start..]).unwrap_or(0);
        self.0.truncate(start + written);
        self.0.push(b'"');
    }

    /// A transaction id field, as clients print it (hex of the reversed bytes).
    pub fn txid(&mut self, name: &str, txid: &Hash32) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(name);
        self.0.push(b'"');
        for b in txid.iter().rev() {
            self.0.push(HEX[usize::from(b >> 4)]);
            self.0.push(HEX[usize::from(b & 15)]);
        }
        self.0.push(b'"');
    }

    /// `type`, `key` (a registration's display name) and `value` of an operation.
    pub fn op_fields(&mut self, op: &KevaOp) {
        self.str("type", op_type(op));
        self.key_value(op);
    }

    /// `key` (a registration's display name) and `value` of an operation.
    pub fn key_value(&mut self, op: &KevaOp) {
        self.base64("key", op.second_arg());
        if let Some(value) = op.value() {
            self.base64("value", value);
        }
    }

    /// `time` (of the item's block header) when known.
    pub fn time(&mut self, time: Option<u32>) {
        if let Some(t) = time {
            self.num("time", t);
        }
    }

    /// `replies`, `shares` and `likes`.
    pub fn counts(&mut self, counts: [u64; 3]) {
        self.num("replies", counts[0]);
        self.num("shares", counts[1]);
        self.num("likes", counts[2]);
    }

    /// The finished text.
    pub fn finish(self) -> Result<String, RpcError> {
        String::from_utf8(self.0).map_err(|_| internal_failure("a keva page is not UTF-8"))
    }

    fn separate(&mut self) {
        if !matches!(self.0.last(), None | Some(b'{' | b'[' | b':')) {
            self.0.push(b',');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_fields_in_order_with_commas_and_escapes() {
        let mut t = Text::with_capacity(64);
        t.open(b'{');
        t.key("items");
        t.open(b'[');
        for n in 0..2 {
            t.open(b'{');
            t.num("n", n);
            t.str("name", "a \"quoted\"\nname");
            t.base64("key", b"My Namespace");
            t.value("code", &json!(-1));
            t.close(b'}');
        }
        t.close(b']');
        t.num("min_tx_num", -1);
        t.close(b'}');
        let text = t.finish().unwrap();
        assert_eq!(
            text,
            r#"{"items":[{"n":0,"name":"a \"quoted\"\nname","key":"TXkgTmFtZXNwYWNl","code":-1},{"n":1,"name":"a \"quoted\"\nname","key":"TXkgTmFtZXNwYWNl","code":-1}],"min_tx_num":-1}"#
        );
        serde_json::from_str::<Value>(&text).expect("valid JSON");
    }

    #[test]
    fn numbers_strings_and_txids_byte_for_byte_as_serde_json_writes_them() {
        let txid: Hash32 = std::array::from_fn(|i| (i * 37) as u8);
        let strings = [
            "plain",
            "",
            "naïve 比特币 🚀",
            "a\"b",
            "back\\slash",
            "tab\t",
            "\u{1f}\u{7f}",
        ];
        let numbers: [i128; 7] = [
            0,
            7,
            -1,
            10,
            4_294_967_295,
            i64::MIN.into(),
            u64::MAX.into(),
        ];
        let mut t = Text::with_capacity(0);
        let mut want = String::from("{");
        t.open(b'{');
        t.txid("tx_hash", &txid);
        want += &format!(
            "\"tx_hash\":{}",
            json!(crate::chain::hash::hash_to_hex(&txid))
        );
        for s in strings {
            t.str("s", s);
            want += &format!(",\"s\":{}", serde_json::to_string(s).unwrap());
        }
        for n in numbers {
            t.num("n", n);
            want += &format!(",\"n\":{n}");
        }
        t.close(b'}');
        want.push('}');
        assert_eq!(t.finish().unwrap(), want);
    }

    #[test]
    fn base64_of_any_length() {
        for n in 0..8 {
            let data: Vec<u8> = (0..n).collect();
            let mut t = Text::with_capacity(0);
            t.open(b'{');
            t.base64("k", &data);
            t.close(b'}');
            let v: Value = serde_json::from_str(&t.finish().unwrap()).unwrap();
            let want = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(v["k"], json!(want));
        }
    }
}
