//! Opening index.db: the writer connection (WAL, bounded cache) and read-only connections.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{schema, Result};
use crate::chain::Network;

/// File name of the index inside `DB_DIRECTORY`.
pub const DB_FILE: &str = "index.db";

/// How long a connection waits for a lock (checkpoints, the admin ban writer) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the index file in a database directory.
pub fn db_path(dir: &Path) -> std::path::PathBuf {
    dir.join(DB_FILE)
}

/// Opens (creating if needed) the index for writing, with the page cache bounded to `cache_mb`.
pub fn open_writer(path: &Path, network: Network, cache_mb: u32) -> Result<Connection> {
    let shown = path.display().to_string();
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| {
                super::Error::new(format!(
                    "cannot create the index directory {}: {e} (check DB_DIRECTORY and its permissions)",
                    dir.display()
                ))
            })?;
        }
    }
    let mut conn = Connection::open(path).map_err(|e| {
        super::Error::new(format!(
            "cannot open the index {shown}: {e} (check DB_DIRECTORY and its permissions)"
        ))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(super::Error::new(format!(
            "{shown}: SQLite refused WAL mode (got {mode}); the index needs a local file system"
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL;
         PRAGMA cache_size = -{};
         PRAGMA temp_store = FILE;
         PRAGMA foreign_keys = OFF;",
        u64::from(cache_mb.max(1)) * 1024
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::create_or_check(&mut conn, network, &shown)?;
    Ok(conn)
}

/// Opens a read-only connection for one worker thread; `cache_mb` bounds its page cache.
pub fn open_reader(path: &Path, network: Network, cache_mb: u32) -> Result<Connection> {
    let shown = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        super::Error::new(format!(
            "cannot open the index {shown} for reading: {e} (has the sync thread created it yet?)"
        ))
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA cache_size = -{}; PRAGMA query_only = ON;",
        u64::from(cache_mb.max(1)) * 1024
    ))?;
    conn.set_prepared_statement_cache_capacity(64);
    schema::check(&conn, network, &shown)?;
    Ok(conn)
}
