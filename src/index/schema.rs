//! The schema in `schema.sql`: applied to a new file, checked on every open, never rewritten.

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Result};
use crate::chain::{hash::hash_to_hex, Network};

/// The whole schema file, compiled in so a binary always carries the schema it understands.
pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// Version written in `meta.schema_version`; bump it with every incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Marker line in schema.sql after which come the indexes built only when initial sync ends.
const DEFERRED_MARKER: &str = "-- @deferred";

/// Tables, views and indexes created with a new index.
pub fn base_sql() -> &'static str {
    match SCHEMA_SQL.find(DEFERRED_MARKER) {
        Some(i) => &SCHEMA_SQL[..i],
        None => SCHEMA_SQL,
    }
}

/// Indexes left out during initial sync (bulk loading) and built once it reaches the tip.
pub fn deferred_sql() -> &'static str {
    match SCHEMA_SQL.find(DEFERRED_MARKER) {
        Some(i) => &SCHEMA_SQL[i..],
        None => "",
    }
}

/// Creates the schema in an empty database, or checks that an existing one matches this build
/// and `network`. Returns true when the schema was just created.
pub fn create_or_check(conn: &mut Connection, network: Network, path: &str) -> Result<bool> {
    let objects: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get(0),
    )?;
    if objects == 0 {
        create(conn, network).map_err(|e| e.context(format!("creating the index in {path}")))?;
        return Ok(true);
    }
    check(conn, network, path)?;
    Ok(false)
}

fn create(conn: &mut Connection, network: Network) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(base_sql())?;
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1), ('network', ?2), ('genesis', ?3)",
        rusqlite::params![
            SCHEMA_VERSION.to_string(),
            network.name(),
            hash_to_hex(&network.genesis_hash())
        ],
    )?;
    tx.execute(
        "INSERT INTO sync_state (id, height, block_hash, next_tx_num, next_script, caught_up)
         VALUES (0, -1, NULL, 0, 1, 0)",
        [],
    )?;
    tx.commit()?;
    Ok(())
}

/// Verifies the schema version and network of an existing index (readers and the writer).
pub fn check(conn: &Connection, network: Network, path: &str) -> Result<()> {
    let has_meta: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if has_meta == 0 {
        return Err(Error::new(format!(
            "{path} is not a keva-electrum index (no meta table): point DB_DIRECTORY at an empty directory"
        )));
    }
    let get = |name: &str| -> Result<Option<String>> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    };
    let version = get("schema_version")?;
    let version: u32 = version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::new(format!(
                "{path} has no readable schema_version in its meta table"
            ))
        })?;
    if version < SCHEMA_VERSION {
        return Err(Error::new(format!(
            "{path} has index schema version {version}, older than this server's {SCHEMA_VERSION}: \
             stop the server, delete {path} (and its -wal/-shm files) and start again to resync"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(Error::new(format!(
            "{path} has index schema version {version}, written by a newer keva-electrum \
             (this one understands {SCHEMA_VERSION}): run the newer version, or delete {path} to resync"
        )));
    }
    let stored = get("network")?.unwrap_or_default();
    if stored != network.name() {
        return Err(Error::new(format!(
            "{path} indexes the {stored} chain but NET is {}: use the right DB_DIRECTORY or NET",
            network.name()
        )));
    }
    Ok(())
}

/// Whether the deferred indexes exist (i.e. bulk loading is over).
pub fn deferred_built(conn: &Connection) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'utxos_by_script'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}
