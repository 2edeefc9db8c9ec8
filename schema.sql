-- keva-electrum index schema, version 2 (version 1 had no reaction_counts table).
--
-- Applied once, when the server creates a new index.db; on every later start the server reads
-- meta.schema_version and refuses to run on an older or newer schema (it never rewrites one).
--
-- Conventions used by every table:
--   * tx_num is a transaction's global position in the best chain: the genesis coinbase is 0,
--     the first transaction of block 1 is 1, and so on (ElectrumX numbering). Genesis
--     transactions are counted but not indexed, as in ElectrumX.
--   * 32-byte hashes (txid, block hash, scripthash) are BLOBs in DISPLAY byte order: the order
--     kevacoin-cli, block explorers and Electrum clients print. Look one up by what you see,
--     e.g. WHERE txid = x'9f0c…', and hex() prints it back the same way.
--   * Addresses (K…, V…, kva1…) and namespace ids (N…) are TEXT, exactly as an operator types
--     them; SQLite has no Base58 of its own, so the text is stored.
--   * Amounts are integers in satoshis (1 KVA = 100000000).
--   * A reorg deletes every row with tx_num >= the first orphaned tx_num and clears the spent
--     markers in that range; no undo log exists or is needed.

-- Facts about this index file: schema version, network, genesis hash.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,  -- 'schema_version', 'network' (mainnet/testnet/regtest), 'genesis' (hex)
    value TEXT NOT NULL      -- the value, as text
) WITHOUT ROWID;

-- The tip of the indexed chain, written in the same transaction as the rows it describes.
CREATE TABLE sync_state (
    id           INTEGER PRIMARY KEY CHECK (id = 0), -- always 0: the table has exactly one row
    height       INTEGER NOT NULL,   -- height of the last indexed block (-1 before genesis)
    block_hash   BLOB,               -- hash of that block (display order), NULL before genesis
    next_tx_num  INTEGER NOT NULL,   -- tx_num the next indexed transaction will get
    next_script  INTEGER NOT NULL,   -- scripts.id the next new script will get
    caught_up    INTEGER NOT NULL    -- 1 once initial sync reached the node's tip (bulk mode off, all indexes built)
);

-- One row per block of the best chain, genesis included.
CREATE TABLE blocks (
    height       INTEGER PRIMARY KEY, -- block height
    hash         BLOB NOT NULL,       -- block hash (Keccak-256 of the CryptoNote blob), display order
    header       BLOB NOT NULL,       -- the raw variable-length header (80 bytes + CompactSize + blob)
    time         INTEGER NOT NULL,    -- header nTime, seconds since 1970
    first_tx_num INTEGER NOT NULL,    -- tx_num of the block's coinbase
    tx_count     INTEGER NOT NULL     -- number of transactions in the block
);

-- One row per indexed transaction; position in its block = tx_num - blocks.first_tx_num.
CREATE TABLE txs (
    tx_num INTEGER PRIMARY KEY, -- global chain position (see conventions)
    txid   BLOB NOT NULL,       -- transaction id, display order
    height INTEGER NOT NULL     -- height of the block holding it
);
-- txid -> tx_num (resolving inputs, transaction lookups). Not UNIQUE: the chain does not forbid
-- a repeated txid; the newest wins, as in the node.
CREATE INDEX txs_by_txid ON txs (txid);

-- Every distinct output script (keva prefix stripped) and keva index pseudo-script that has
-- history, interned to a small integer so history rows stay small.
CREATE TABLE scripts (
    id           INTEGER PRIMARY KEY, -- assigned in chain order of first appearance
    scripthash   BLOB NOT NULL,       -- Electrum scripthash: sha256(script), display order
    first_tx_num INTEGER NOT NULL,    -- tx_num that first used it (a reorg below it deletes the row)
    address      TEXT                 -- K…/V…/kva1… address; 'unh' + Base58Check(script) for other
                                      -- output scripts (as get_transactions_info shows them);
                                      -- NULL for keva index pseudo-scripts
);
CREATE UNIQUE INDEX scripts_by_hash ON scripts (scripthash);

-- Every output of every indexed transaction, with the transaction that spent it.
CREATE TABLE outputs (
    tx_num       INTEGER NOT NULL, -- the transaction that created it
    vout         INTEGER NOT NULL, -- its index in that transaction
    value        INTEGER NOT NULL, -- amount in satoshis
    script_id    INTEGER,          -- scripts.id of its (keva-stripped) script; NULL for OP_RETURN (unspendable, no history)
    spent_tx_num INTEGER,          -- tx_num of the spending transaction; NULL while unspent
    spent_vin    INTEGER,          -- input index within the spending transaction; NULL while unspent
    PRIMARY KEY (tx_num, vout)
) WITHOUT ROWID;
-- Inputs of a transaction in order (get_transactions_info) and clearing spent markers on reorg.
CREATE INDEX outputs_by_spender ON outputs (spent_tx_num, spent_vin) WHERE spent_tx_num IS NOT NULL;

-- Scripthash history: one row per (script, transaction) for funding, spending and every keva
-- index entry. Ordered by tx_num, which is chain order and position in block.
CREATE TABLE history (
    script_id INTEGER NOT NULL, -- scripts.id
    tx_num    INTEGER NOT NULL, -- txs.tx_num
    PRIMARY KEY (script_id, tx_num)
) WITHOUT ROWID;

-- Keva operations as rows (at most one per transaction by consensus; keyed by output anyway).
CREATE TABLE keva_ops (
    tx_num    INTEGER NOT NULL, -- the transaction
    vout      INTEGER NOT NULL, -- the output carrying the operation
    op        INTEGER NOT NULL, -- 208 = namespace registration, 209 = put, 210 = delete (the opcode)
    namespace TEXT NOT NULL,    -- namespace id as Base58Check text (N…)
    key       BLOB NOT NULL,    -- key bytes; for a registration, the display name
    value     BLOB,             -- value bytes of a put; NULL for registrations and deletes
    PRIMARY KEY (tx_num, vout)
) WITHOUT ROWID;
-- Current value of a key, keys of a namespace.
CREATE INDEX keva_ops_by_key ON keva_ops (namespace, key);

-- Reply, share and like counts of a post, kept by the writer in the same transaction as the
-- keva_ops rows it counts (and taken back with them on a reorg), so that a page of 25 posts
-- reads 25 rows instead of counting 75 histories. A count is the number of transactions whose
-- keva operation has the key (or, for a registration, the display name) 00 01 ‖ txid (reply),
-- 00 02 ‖ txid (share) or 00 03 ‖ txid (like): the history length of that index entry. Only
-- posts with at least one reaction have a row; the post itself need not be indexed (yet).
-- SELECT * FROM reaction_counts WHERE txid = x'<post txid as shown>';
CREATE TABLE reaction_counts (
    txid    BLOB PRIMARY KEY,  -- the post reacted to, display order (as in the reaction's key)
    replies INTEGER NOT NULL,  -- confirmed replies
    shares  INTEGER NOT NULL,  -- confirmed shares
    likes   INTEGER NOT NULL   -- confirmed likes
) WITHOUT ROWID;

-- Moderation: transactions whose keva content is hidden from every keva method. Keyed by txid,
-- not tx_num, so a ban survives reorgs and resyncs (the row stays even when the tx is gone).
CREATE TABLE banned_txs (
    txid      BLOB PRIMARY KEY,  -- banned transaction id, display order
    reason    INTEGER NOT NULL,  -- operator's reason code (0 = unspecified, 1 = spam, 2 = illegal, 3 = abuse, other = operator-defined)
    banned_at INTEGER NOT NULL   -- when the ban was made, seconds since 1970
) WITHOUT ROWID;

-- ---------------------------------------------------------------------------------------------
-- Operator views (plain `sqlite3 -readonly index.db`). Every hash column ending in _hex is
-- lower-case display hex; filter on the BLOB column (x'…') or on the address / namespace text
-- to use the indexes.

-- The tip.
CREATE VIEW tip AS
SELECT height, lower(hex(block_hash)) AS block_hash, next_tx_num AS tx_count, caught_up
FROM sync_state;

-- History of an address: SELECT * FROM address_history WHERE address = 'V…';
CREATE VIEW address_history AS
SELECT s.address, t.height, h.tx_num - b.first_tx_num AS position,
       datetime(b.time, 'unixepoch') AS time, lower(hex(t.txid)) AS txid_hex, h.tx_num
FROM scripts s
JOIN history h ON h.script_id = s.id
JOIN txs t ON t.tx_num = h.tx_num
JOIN blocks b ON b.height = t.height;

-- Unspent outputs of an address: SELECT * FROM address_utxos WHERE address = 'V…';
CREATE VIEW address_utxos AS
SELECT s.address, lower(hex(t.txid)) AS txid_hex, o.vout, o.value, t.height
FROM scripts s
JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
JOIN txs t ON t.tx_num = o.tx_num;

-- Balance of an address: SELECT * FROM address_balance WHERE address = 'V…';
CREATE VIEW address_balance AS
SELECT s.address, count(o.tx_num) AS utxos, coalesce(sum(o.value), 0) AS balance_sat,
       coalesce(sum(o.value), 0) / 100000000.0 AS balance_kva
FROM scripts s
LEFT JOIN outputs o ON o.script_id = s.id AND o.spent_tx_num IS NULL
GROUP BY s.address;

-- A transaction: SELECT * FROM tx_info WHERE txid = x'<txid as shown>';
CREATE VIEW tx_info AS
SELECT t.txid, lower(hex(t.txid)) AS txid_hex, t.tx_num, t.height,
       t.tx_num - b.first_tx_num AS position, datetime(b.time, 'unixepoch') AS time,
       (SELECT count(*) FROM outputs i WHERE i.spent_tx_num = t.tx_num) AS inputs,
       (SELECT count(*) FROM outputs o WHERE o.tx_num = t.tx_num) AS outputs,
       (SELECT sum(value) FROM outputs o WHERE o.tx_num = t.tx_num) AS out_sat
FROM txs t JOIN blocks b ON b.height = t.height;

-- Outputs of a transaction: SELECT * FROM tx_outputs WHERE txid = x'…' ORDER BY vout;
CREATE VIEW tx_outputs AS
SELECT t.txid, o.vout, coalesce(s.address, 'ret') AS address, o.value,
       lower(hex(st.txid)) AS spent_by_hex
FROM txs t
JOIN outputs o ON o.tx_num = t.tx_num
LEFT JOIN scripts s ON s.id = o.script_id
LEFT JOIN txs st ON st.tx_num = o.spent_tx_num;

-- Inputs of a transaction: SELECT * FROM tx_inputs WHERE txid = x'…' ORDER BY vin;
CREATE VIEW tx_inputs AS
SELECT t.txid, o.spent_vin AS vin, lower(hex(pt.txid)) AS prev_txid_hex, o.vout AS prev_vout,
       coalesce(s.address, 'ret') AS address, o.value
FROM txs t
JOIN outputs o ON o.spent_tx_num = t.tx_num
JOIN txs pt ON pt.tx_num = o.tx_num
LEFT JOIN scripts s ON s.id = o.script_id;

-- Keva operations readable: op name, key and value as text.
CREATE VIEW keva_log AS
SELECT k.tx_num, t.height, datetime(b.time, 'unixepoch') AS time, lower(hex(t.txid)) AS txid_hex,
       CASE k.op WHEN 208 THEN 'REG' WHEN 209 THEN 'PUT' WHEN 210 THEN 'DEL' ELSE 'UNK' END AS op,
       k.namespace, CAST(k.key AS TEXT) AS key, CAST(k.value AS TEXT) AS value
FROM keva_ops k
JOIN txs t ON t.tx_num = k.tx_num
JOIN blocks b ON b.height = t.height;

-- The latest keva operations: SELECT * FROM keva_latest LIMIT 20;
CREATE VIEW keva_latest AS
SELECT * FROM keva_log ORDER BY tx_num DESC;

-- Current value of every key: SELECT key, value FROM keva_current WHERE namespace = 'N…';
-- (a key whose latest operation is a delete is absent)
CREATE VIEW keva_current AS
SELECT k.namespace, CAST(k.key AS TEXT) AS key, CAST(k.value AS TEXT) AS value, t.height,
       lower(hex(t.txid)) AS txid_hex
FROM keva_ops k
JOIN txs t ON t.tx_num = k.tx_num
WHERE k.op = 209
  AND NOT EXISTS (SELECT 1 FROM keva_ops l
                  WHERE l.namespace = k.namespace AND l.key = k.key AND l.op IN (209, 210)
                    AND (l.tx_num > k.tx_num OR (l.tx_num = k.tx_num AND l.vout > k.vout)));

-- Namespaces with display names: SELECT * FROM keva_namespaces WHERE namespace = 'N…';
-- display_name follows the profile rule: the latest registration or profile update
-- (key \x01_KEVA_NS_) gives displayName when it is a put of JSON with a text displayName,
-- otherwise the registered name.
CREATE VIEW keva_namespaces AS
SELECT r.namespace, CAST(r.key AS TEXT) AS registered_name,
       coalesce((SELECT CASE WHEN p.op = 209 AND json_valid(p.value)
                              AND json_type(p.value, '$.displayName') = 'text'
                             THEN json_extract(p.value, '$.displayName') END
                 FROM keva_ops p
                 WHERE p.namespace = r.namespace
                   AND (p.op = 208 OR p.key = x'015f4b4556415f4e535f')
                 ORDER BY p.tx_num DESC, p.vout DESC LIMIT 1),
                CAST(r.key AS TEXT)) AS display_name,
       t.height AS registered_height, lower(hex(t.txid)) AS registered_txid_hex
FROM keva_ops r
JOIN txs t ON t.tx_num = r.tx_num
WHERE r.op = 208;

-- Banned transactions with readable ids.
CREATE VIEW banned AS
SELECT lower(hex(txid)) AS txid_hex, reason, datetime(banned_at, 'unixepoch') AS banned_at
FROM banned_txs;

-- @deferred: built when initial sync reaches the node's tip (bulk loading skips them).

-- Unspent outputs and balance of a script (covering: value and the (tx_num, vout) key).
CREATE INDEX IF NOT EXISTS utxos_by_script ON outputs (script_id, value) WHERE spent_tx_num IS NULL;
-- Address text -> script (operator views).
CREATE INDEX IF NOT EXISTS scripts_by_address ON scripts (address) WHERE address IS NOT NULL;
