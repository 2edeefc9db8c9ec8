//! The schema version and network checks: an older, newer or foreign index is refused with a
//! message saying what to do, and never rewritten.

mod index_util;

use index_util::*;
use keva_electrum::chain::Network;
use keva_electrum::index::schema::SCHEMA_VERSION;
use keva_electrum::index::{Reader, Writer};
use rusqlite::Connection;

fn set_version(db: &std::path::Path, v: &str) {
    let c = Connection::open(db).unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
        [v],
    )
    .unwrap();
}

#[test]
fn new_index_gets_the_schema_and_reopens() {
    let dir = TempDir::new("schema");
    let db = dir.db("index.db");
    let w = Writer::open(&db, Network::Regtest, 4).unwrap();
    assert_eq!(w.state().height, -1);
    drop(w);
    let w = Writer::open(&db, Network::Regtest, 4).unwrap();
    assert_eq!(w.state().next_tx_num, 0);
    let r = Reader::open(&db, Network::Regtest, 4).unwrap();
    assert_eq!(r.tip().unwrap(), None);
    let c = Connection::open(&db).unwrap();
    let v: String = c
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION.to_string());
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn older_newer_and_foreign_indexes_are_refused_untouched() {
    let dir = TempDir::new("schema-old");
    let db = dir.db("index.db");
    drop(Writer::open(&db, Network::Regtest, 4).unwrap());
    let before = dump(&db);

    set_version(&db, &(SCHEMA_VERSION - 1).to_string());
    let e = Writer::open(&db, Network::Regtest, 4)
        .err()
        .expect("older refused");
    assert!(e.message().contains("older"), "{e}");
    assert!(e.message().contains("delete"), "says how to resync: {e}");
    let e = Reader::open(&db, Network::Regtest, 4)
        .err()
        .expect("older refused");
    assert!(e.message().contains("older"), "{e}");

    set_version(&db, &(SCHEMA_VERSION + 1).to_string());
    let e = Writer::open(&db, Network::Regtest, 4)
        .err()
        .expect("newer refused");
    assert!(e.message().contains("newer"), "{e}");

    set_version(&db, &SCHEMA_VERSION.to_string());
    let e = Writer::open(&db, Network::Mainnet, 4)
        .err()
        .expect("other network refused");
    assert!(
        e.message().contains("regtest") && e.message().contains("NET"),
        "{e}"
    );
    assert_eq!(dump(&db), before, "nothing was rewritten");

    let other = dir.db("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let e = Writer::open(&other, Network::Regtest, 4)
        .err()
        .expect("foreign file refused");
    assert!(e.message().contains("not a keva-electrum index"), "{e}");
}
