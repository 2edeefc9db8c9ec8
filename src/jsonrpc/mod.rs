//! The JSON-RPC vocabulary shared by the server (which speaks it on sockets) and the methods
//! (which answer in it), below both so that neither depends on the other.
//!
//! * [`RpcError`]: error codes and ElectrumX's error texts.
//! * [`Backend`], [`Answer`], [`Reply`]: the boundary the server calls and the methods
//!   implement; every call runs on a worker thread.
//! * [`bind_params`]: positional or named arguments bound to parameter names, as aiorpcX does.
//! * [`parse_line`], [`encode_result`] and kin: a client's line (loose JSON-RPC, batches) in,
//!   compact JSON-RPC 2.0 replies and notifications out.
//! * [`py_str`], [`py_repr`], [`thousands`]: Python's formatting, so texts match ElectrumX's.

mod backend;
mod bind;
mod error;
mod message;
mod python;

pub use backend::{Answer, Backend, Reply};
pub use bind::bind_params;
pub use error::RpcError;
pub use message::{
    encode_error, encode_notification, encode_result, encode_result_text, parse_line, Item,
    Message, Request,
};
pub use python::{py_repr, py_str, thousands};
