//! The SQLite index: schema, the writer the sync thread owns, and the read API workers use.
//!
//! One file (`index.db`, WAL mode) holds everything: blocks, transactions numbered by chain
//! position (`tx_num`), every output with the transaction that spent it, scripthash history
//! (funding, spending and keva index entries), keva operations as rows, and moderation. The
//! sync thread ([`sync::Syncer`]) is the only writer; every worker opens its own read-only
//! [`read::Reader`].

pub mod db;
mod keva_rows;
pub mod prefetch;
pub mod prepared;
pub mod read;
pub mod schema;
pub mod sync;
pub mod writer;

pub use read::Reader;

pub use sync::{ChainEvent, SyncConfig, Syncer};
pub use writer::Writer;

use std::fmt;

/// An index failure with the context an operator needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
    storage: bool,
}

impl Error {
    /// Builds an error from a message that says what is wrong and where.
    pub fn new(msg: impl Into<String>) -> Error {
        Error {
            msg: msg.into(),
            storage: false,
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(self, ctx: impl fmt::Display) -> Error {
        Error {
            msg: format!("{ctx}: {}", self.msg),
            storage: self.storage,
        }
    }

    /// Whether the disk refused a write (full, read-only, I/O error): the index is intact and
    /// writing can resume once the operator fixes the disk.
    pub fn is_storage(&self) -> bool {
        self.storage
    }

    /// The full message.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode;
        let storage = matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
            )
        );
        Error {
            msg: format!("SQLite: {e}"),
            storage,
        }
    }
}

impl From<crate::chain::Error> for Error {
    fn from(e: crate::chain::Error) -> Error {
        Error::new(e.to_string())
    }
}

/// Result alias for the index.
pub type Result<T> = std::result::Result<T, Error>;

/// Default maximum reorg depth the sync follows before stopping (ElectrumX's `REORG_LIMIT`).
pub const REORG_LIMIT: u32 = 800;

/// Hashes are stored in display order (see schema.sql); code uses internal order.
pub(crate) fn to_display(h: &crate::chain::Hash32) -> [u8; 32] {
    let mut d = *h;
    d.reverse();
    d
}

/// The inverse of [`to_display`], checking the stored length.
pub(crate) fn from_display(b: &[u8]) -> Result<crate::chain::Hash32> {
    let mut h: crate::chain::Hash32 = b
        .try_into()
        .map_err(|_| Error::new(format!("stored hash has {} bytes, expected 32", b.len())))?;
    h.reverse();
    Ok(h)
}
