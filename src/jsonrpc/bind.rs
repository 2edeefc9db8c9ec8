//! Binding a call's params (positional or named) to a method's parameter names, as aiorpcX
//! does, with its error texts.

use super::{py_str, RpcError};
use serde_json::{Map, Value};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
