//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz/fuzz_targets/`) and the
//! corpus regression test (`tests/hostile_fuzz_corpus.rs`): each takes arbitrary bytes, must
//! never panic, and checks what must hold for any input it accepts.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use keva_electrum::chain::header::Header;
use keva_electrum::chain::keva::{index_scripthashes, parse_keva_script};
use keva_electrum::chain::script::scripthash;
use keva_electrum::chain::{Block, Transaction};
use keva_electrum::index::prepared::PreparedBlock;
use keva_electrum::server::pool::{Outcome, Route, Task};
use keva_electrum::server::session::{Effects, Session, Shared};
use keva_electrum::server::Settings;

/// Block and transaction parsing: whatever parses re-serializes to bytes that parse back to
/// the same thing. (Not necessarily to the input: the parser accepts non-minimal CompactSize
/// lengths, as ElectrumX does, and re-serializes them minimally.)
pub fn block_and_tx(data: &[u8]) {
    if let Ok(block) = Block::from_bytes(data) {
        let bytes = block.serialize();
        let again = Block::from_bytes(&bytes).expect("a serialized block parses");
        assert_eq!(again.serialize(), bytes, "a block does not round-trip");
        let _ = block.compute_merkle_root();
        for tx in &block.txs {
            let _ = (tx.txid(), tx.wtxid());
        }
    }
    if let Ok(tx) = Transaction::from_bytes(data) {
        let bytes = tx.serialize();
        let again = Transaction::from_bytes(&bytes).expect("a serialized transaction parses");
        assert_eq!(
            again.serialize(),
            bytes,
            "a transaction does not round-trip"
        );
        assert_eq!(again.txid(), tx.txid());
    }
}

/// Keva script parsing and the index scripthashes derived from it: the address part is a
/// suffix of the script, and derivation never fails on a parsed operation.
pub fn keva_script(data: &[u8]) {
    if let Some((op, address)) = parse_keva_script(data) {
        assert!(
            data.ends_with(address),
            "the address script is not the tail of the keva script"
        );
        // One per namespace, key and hashtag: any number, but always the same ones.
        let hashes = index_scripthashes(&op);
        assert_eq!(
            hashes,
            index_scripthashes(&op),
            "derivation is not deterministic"
        );
        let _ = scripthash(address);
    }
    let _ = scripthash(data);
}

/// Header chains: parse consecutive headers, check each links to the one before, and prepare
/// a block the way the sync does (hash, height and merkle checks) without panicking.
pub fn header_chain(data: &[u8]) {
    let mut rest = data;
    let mut prev: Option<Header> = None;
    while !rest.is_empty() {
        let mut cur = keva_electrum::chain::encode::Cursor::new(rest);
        let Ok(h) = Header::parse(&mut cur) else {
            break;
        };
        let used = rest.len() - cur.remaining();
        assert!(used > 0, "a header of zero bytes");
        assert_eq!(Header::from_bytes(&rest[..used]).ok().as_ref(), Some(&h));
        let _ = (h.hash(), h.original_hash(), h.height(), h.cn_fields());
        if let Some(p) = &prev {
            let _linked = h.prev_hash() == p.hash();
        }
        prev = Some(h);
        rest = &rest[used..];
    }
    if data.len() >= 4 {
        let height = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let hash = Block::from_bytes(&data[4..])
            .map(|b| b.header.hash())
            .unwrap_or_else(|_| keva_electrum::chain::hash::sha256(data));
        if let Ok(b) = PreparedBlock::parse(height, &hash, &data[4..]) {
            assert_eq!(b.hash, hash);
            assert_eq!(b.txids.len(), b.tx_count());
        }
    }
}

/// The socket-free session state machine fed arbitrary bytes in arbitrary pieces, with every
/// job it asks for answered: it never panics, and everything it writes is JSON lines.
pub fn session(data: &[u8]) {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let mut settings = Settings::default();
    settings.limits.max_recv = 4096;
    settings.limits.max_send = 350_000;
    let tip = serde_json::json!({"height": 5, "hex": "00"});
    let shared = Shared {
        settings: &settings,
        tip: Some(&tip),
        epoch: 0,
    };
    let start = Instant::now();
    let mut session = Session::new(1, 1, start);
    let mut out = Vec::new();
    let piece = usize::from(split % 64) + 1;
    for (i, chunk) in data.chunks(piece).enumerate() {
        let now = start + Duration::from_millis(i as u64);
        let mut eff = Effects::default();
        session.receive(chunk, now, &shared, &mut eff);
        let mut jobs = std::mem::take(&mut eff.jobs);
        // Answer what was asked (answers may enqueue more jobs).
        let mut rounds = 0;
        while let Some(job) = jobs.pop() {
            rounds += 1;
            if rounds > 10_000 {
                break;
            }
            let Route::Session { tag, .. } = job.route else {
                continue;
            };
            let outcome = match job.task {
                Task::Call { id: Some(id), .. } => Outcome::Response {
                    bytes: serde_json::to_vec(
                        &serde_json::json!({"jsonrpc": "2.0", "result": [1, "x"], "id": id}),
                    )
                    .unwrap(),
                    error: false,
                },
                Task::Call { id: None, .. } => Outcome::Silent { error: false },
                Task::Status { .. } => Outcome::Status(Ok(Some("ab".repeat(32)))),
                Task::Tip => Outcome::Tip(Ok(tip.clone())),
            };
            let mut eff = Effects::default();
            session.complete(tag, outcome, 1.0, now, &shared, &mut eff);
            jobs.extend(eff.jobs);
        }
        let mut eff = Effects::default();
        session.tick(now + Duration::from_secs(3), &shared, &mut eff);
        out.extend_from_slice(session.output());
        let n = session.output().len();
        session.consume_output(n);
        if session.finished() {
            break;
        }
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Result<serde_json::Value, _> = serde_json::from_slice(line);
        assert!(
            v.is_ok(),
            "the session wrote a line that is not JSON: {:?}",
            String::from_utf8_lossy(line)
        );
    }
}
