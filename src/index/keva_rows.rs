//! keva_ops rows back into [`KevaOp`]s: the reader shows them, the writer's rollback takes
//! back what they indexed.

use super::{Error, Result};
use crate::chain::keva::{KevaOp, OP_KEVA_DELETE, OP_KEVA_NAMESPACE, OP_KEVA_PUT};

/// Rebuilds a [`KevaOp`] from a keva_ops row.
pub(crate) fn keva_op_from_row(
    code: u8,
    ns: &str,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
) -> Result<KevaOp> {
    keva_op_from_parts(code, stored_namespace(ns)?, key, value)
}

/// The namespace id bytes of a keva_ops row's Base58Check text.
pub(crate) fn stored_namespace(ns: &str) -> Result<Vec<u8>> {
    crate::chain::address::base58check_decode(ns)
        .map_err(|e| Error::new(format!("stored namespace {ns:?} does not decode: {e}")))
}

/// A [`KevaOp`] from a keva_ops row whose namespace is already decoded.
pub(crate) fn keva_op_from_parts(
    code: u8,
    namespace: Vec<u8>,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
) -> Result<KevaOp> {
    Ok(match code {
        OP_KEVA_NAMESPACE => KevaOp::Namespace {
            namespace,
            display_name: key,
        },
        OP_KEVA_PUT => KevaOp::Put {
            namespace,
            key,
            value: value.unwrap_or_default(),
        },
        OP_KEVA_DELETE => KevaOp::Delete { namespace, key },
        other => {
            return Err(Error::new(format!(
                "stored keva op code {other} is unknown"
            )))
        }
    })
}
