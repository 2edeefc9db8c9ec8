//! Lies about one block, forged from the block there now, so tests can check that a follower
//! refuses bad data.

use serde_json::{json, Value};

use super::{NodeState, Shared};
use crate::chain::Hash32;

/// A lie about one block of the active chain, told until cleared, so tests can check that a
/// follower refuses bad data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// `getblock` serves the block with its coinbase changed: the merkle root no longer matches.
    BadMerkleRoot,
    /// The block is announced (`getblockhash`, `getbestblockhash`) and served with a header
    /// naming a previous block that is not the one below it.
    BadPrevHash,
    /// `getblock` serves a block whose header does not hash to the hash asked for.
    WrongHash,
}

/// A forged block: the hash announced for the lied-about height and the bytes served for it.
pub(super) struct Forgery {
    height: u32,
    lie: Lie,
    pub(super) announced: String,
    served: String,
}

/// Builds the lie about the block at `height` from the block there now.
pub(super) fn forge(state: &NodeState, height: u32, lie: Lie) -> Result<Forgery, String> {
    use crate::chain::hash::{hash_to_hex, to_hex};
    use crate::chain::header::Header;
    if height == 0 {
        return Err("the genesis block cannot be lied about".into());
    }
    let mut block = state
        .chain
        .block(height)
        .ok_or_else(|| format!("no block at height {height}"))?;
    let real = block.header.hash();
    let h = &block.header;
    let rebuild = |prev: Hash32, time: u32| {
        Header::build(
            h.version(),
            prev,
            h.merkle_root(),
            time,
            h.bits(),
            h.height(),
            h.cn_fields(),
        )
    };
    let header = match lie {
        Lie::BadMerkleRoot => {
            block.txs[0].outputs[0].value ^= 1;
            None
        }
        Lie::WrongHash => Some(rebuild(h.prev_hash(), h.time().wrapping_add(1))),
        Lie::BadPrevHash => {
            let mut prev = h.prev_hash();
            prev[0] ^= 0xff;
            Some(rebuild(prev, h.time()))
        }
    };
    if let Some(header) = header {
        block.header = header;
    }
    let announced = match lie {
        Lie::BadPrevHash => block.header.hash(),
        Lie::BadMerkleRoot | Lie::WrongHash => real,
    };
    Ok(Forgery {
        height,
        lie,
        announced: hash_to_hex(&announced),
        served: to_hex(&block.serialize()),
    })
}

/// The forged answer to `method`, when the current lie covers it.
pub(super) fn lie_answer(shared: &Shared, method: &str, params: &[Value]) -> Option<Value> {
    let lie = shared.lie.lock();
    let f = lie.as_ref()?;
    match method {
        "getblock" => {
            let asked = params.first()?.as_str()?;
            let verbosity = params.get(1).and_then(Value::as_u64).unwrap_or(1);
            (asked == f.announced && verbosity == 0).then(|| json!(f.served))
        }
        "getblockhash" if f.lie == Lie::BadPrevHash => {
            (params.first()?.as_u64()? == u64::from(f.height)).then(|| json!(f.announced))
        }
        "getbestblockhash" if f.lie == Lie::BadPrevHash => {
            let tip = shared.state.lock().chain.height();
            (tip == f.height).then(|| json!(f.announced))
        }
        _ => None,
    }
}
