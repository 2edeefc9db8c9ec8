//! Crash safety: a syncing process is killed (SIGKILL) at random points, during initial sync
//! and while following the tip (with new blocks and reorgs in between); every restart resumes,
//! and the end result equals an uninterrupted sync.
//!
//! The child is this test binary itself, re-run with `--ignored crash_child` and the node URL
//! and database path in environment variables.

mod index_util;

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use index_util::*;
use keva_electrum::chain::Network;
use keva_electrum::index::{SyncConfig, Syncer, Writer};
use rusqlite::{Connection, OpenFlags};

const URL_VAR: &str = "KEVA_INDEX_CRASH_URL";
const DB_VAR: &str = "KEVA_INDEX_CRASH_DB";
const BATCH_VAR: &str = "KEVA_INDEX_CRASH_BATCH";

/// The process that gets killed: syncs forever with small, frequent commits.
#[test]
#[ignore = "child process of crash_restarts_end_equal_to_an_uninterrupted_sync"]
fn crash_child() {
    let url = std::env::var(URL_VAR).expect("run by the crash test");
    let db = std::env::var(DB_VAR).expect("run by the crash test");
    let batch: usize = std::env::var(BATCH_VAR).unwrap().parse().unwrap();
    let writer = Writer::open(db.as_ref(), Network::Regtest, 8).unwrap();
    let config = SyncConfig {
        poll_interval: Duration::from_millis(20),
        ..quiet_config(batch)
    };
    let mut syncer = Syncer::new(
        writer,
        daemon_for(&url),
        config,
        None,
        Arc::new(AtomicBool::new(false)),
    );
    syncer.run().unwrap();
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// (indexed height, initial sync finished).
fn sync_state(db: &std::path::Path) -> (i64, bool) {
    if !db.exists() {
        return (-1, false);
    }
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("SELECT height, caught_up FROM sync_state", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap_or((-1, false))
}

#[test]
fn crash_restarts_end_equal_to_an_uninterrupted_sync() {
    let node = start_node(6000, 41);
    let dir = TempDir::new("crash");
    let db = dir.db("index.db");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let mut during_sync = 0;
    let mut at_tip = 0;
    let mut kills = 0;
    let started = Instant::now();
    let spawn_child = |batch: u64| {
        Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(URL_VAR, node.url())
            .env(DB_VAR, &db)
            .env(BATCH_VAR, batch.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    while kills < 24 || during_sync < 10 || at_tip < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "crash test takes too long"
        );
        let batch = 20 + rng.below(400);
        let mut child = spawn_child(batch);
        let (mut before, mut caught_up) = sync_state(&db);
        if caught_up && during_sync < 10 {
            // A fast machine finishes the initial sync between kills: start a new one, so
            // that enough kills land in the middle of it.
            child.kill().unwrap();
            child.wait().unwrap();
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
            (before, caught_up) = (-1, false);
            child = spawn_child(batch);
        }
        if caught_up {
            // At the tip: the node moves on (new blocks, sometimes a reorg) while we kill.
            match rng.below(3) {
                0 => {
                    node.reorg(1 + rng.below(5) as u32, 2 + rng.below(5) as u32);
                }
                _ => {
                    node.mine(1 + rng.below(3) as u32);
                }
            }
            std::thread::sleep(Duration::from_millis(rng.below(300)));
        } else {
            std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child was killed, not finished");
        kills += 1;
        let (after, _) = sync_state(&db);
        if !caught_up {
            assert!(
                after >= before,
                "initial sync resumes where it stopped ({before} -> {after})"
            );
        }
        if caught_up {
            at_tip += 1;
        } else {
            during_sync += 1;
        }
        if db.exists() {
            assert_consistent(&db);
        }
    }
    eprintln!("{kills} kills: {during_sync} during initial sync, {at_tip} at the tip");
    // A last restart without a kill finishes; it must equal a sync that was never interrupted.
    sync_to_tip(&db, &node.url(), quiet_config(500));
    let fresh = dir.db("fresh.db");
    sync_to_tip(&fresh, &node.url(), quiet_config(100_000));
    assert_same_dump(&dump(&db), &dump(&fresh), "after the crashes");
    assert_matches_truth(&db, &node.truth());
}
