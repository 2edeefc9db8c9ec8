//! The SQLite index: schema, the writer the sync thread owns, and the read API workers use.
