//! Per-network constants: genesis, ports, address version bytes.

use super::Hash32;

/// Which Kevacoin chain the server follows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Network {
    /// The production chain.
    Mainnet,
    /// The public test chain ("testnet8" data directory).
    Testnet,
    /// Local regression-test chain (blocks made with `generate`).
    Regtest,
}

/// Decodes a display-order hex hash at compile time into internal order.
const fn display_hash(s: &str) -> Hash32 {
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let hi = nibble(b[2 * i]);
        let lo = nibble(b[2 * i + 1]);
        out[31 - i] = hi << 4 | lo;
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex in a constant"),
    }
}

const MAIN_GENESIS_HASH: Hash32 =
    display_hash("70bd30ae775c691fc8a2b7d27f37279a4f505f877e3234105f22e963a618597c");
const TEST_GENESIS_HASH: Hash32 =
    display_hash("21ebe179e22753b30e605f0381f6a313cdd16d09b2310db8d5bc87ada743269f");
const REGTEST_GENESIS_HASH: Hash32 =
    display_hash("913ef11843ce0d4905bfdbd73c8e57bc9b35619dfada60474e64040b351b9941");

const MAIN_GENESIS_BLOCK: &str = "01000000000000000000000000000000000000000000000000000000000000000000000030334df25e9c7067139436a69dde2e1bd3bb2aa9ab67f8cc094da22d984a10e6b0d11f5effff0f1e000000004c0a00b0a3fff0055d43c919f1fd29289331d9bd12c60f8fe77e63166a5e9abd32e1f229a6811d9c4aee08006fde02dc52066063e1985710d777c21ffc243b6f875aef808f58d30321feba09010101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff3d04ffff001d0104355468616e6b20596f75205361746f7368692036313239393720323032302d30312d31352031313a34303a3431203766333166343464ffffffff01e8030000000000001817a914676a24ba4bfadd458e5245b26fa57f9a62ca18508700000000";
const TEST_GENESIS_BLOCK: &str = "010000000000000000000000000000000000000000000000000000000000000000000000952c29d4f27cfb6c184e481f01f1e72db381bc1ddf804beaa5f6bf3f62905ad86ea05a5ef0ff0f1f00000000480a000098b1760b8dbd480d5d8555e2d694d07910badc32c1a240109fe96957665f9323d00d00000000000000000000000000000000000000000000000000000000000000000000000101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff6004ffff001d01044c575468652045636f6e6f6d6973742032372f536570742f32303139205265706f2d6d61726b65742072756374696f6e73207765726520612072656d696e646572206f66207468652066696e616e6369616c20637269736973ffffffff0100743ba40b0000001817a914676a24ba4bfadd458e5245b26fa57f9a62ca18508700000000";
const REGTEST_GENESIS_BLOCK: &str = "010000000000000000000000000000000000000000000000000000000000000000000000b9f5ab4b24e2ec6acbb332e916cfb4bc0c4694ba4dd1b79653cec9c5fb37dbb44c0c5a5effff7f2000000000480a000080c69b262d7ef8a4b296c9c38ce680ab0588cd57492224798a2a4e1955a96d1f000000000000000000000000000000000000000000000000000000000000000000000000000101000000010000000000000000000000000000000000000000000000000000000000000000ffffffff6004ffff001d01044c575468652045636f6e6f6d6973742032372f536570742f32303139205265706f2d6d61726b65742072756374696f6e73207765726520612072656d696e646572206f66207468652066696e616e6369616c20637269736973ffffffff0100f2052a010000001817a914676a24ba4bfadd458e5245b26fa57f9a62ca18508700000000";

impl Network {
    /// Parses a configured network name (ElectrumX `NET` names and the node's chain names).
    pub fn from_name(s: &str) -> Option<Network> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mainnet" | "main" => Some(Network::Mainnet),
            "testnet" | "test" => Some(Network::Testnet),
            "regtest" => Some(Network::Regtest),
            _ => None,
        }
    }

    /// The ElectrumX `NET` name, used in config and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Regtest => "regtest",
        }
    }

    /// What `getblockchaininfo.chain` reports, to check the node is on the configured chain.
    pub fn node_chain_name(&self) -> &'static str {
        match self {
            Network::Mainnet => "main",
            Network::Testnet => "test",
            Network::Regtest => "regtest",
        }
    }

    /// Hash of block 0 (internal order), to check the node's chain and seed the index.
    pub fn genesis_hash(&self) -> Hash32 {
        match self {
            Network::Mainnet => MAIN_GENESIS_HASH,
            Network::Testnet => TEST_GENESIS_HASH,
            Network::Regtest => REGTEST_GENESIS_HASH,
        }
    }

    /// The full genesis block as `getblock <hash> 0` returns it.
    pub fn genesis_block_hex(&self) -> &'static str {
        match self {
            Network::Mainnet => MAIN_GENESIS_BLOCK,
            Network::Testnet => TEST_GENESIS_BLOCK,
            Network::Regtest => REGTEST_GENESIS_BLOCK,
        }
    }

    /// Default kevacoind JSON-RPC port (mainnet 9337; ElectrumX's 9332 is stale).
    pub fn rpc_port(&self) -> u16 {
        match self {
            Network::Mainnet => 9337,
            Network::Testnet => 19332,
            Network::Regtest => 19443,
        }
    }

    /// Default Electrum TCP port.
    pub fn tcp_port(&self) -> u16 {
        50001
    }

    /// Default Electrum SSL port.
    pub fn ssl_port(&self) -> u16 {
        50002
    }

    /// Base58 version byte of P2PKH addresses ("K…" on mainnet).
    pub fn p2pkh_version(&self) -> u8 {
        match self {
            Network::Mainnet => 0x2d,
            Network::Testnet => 0x37,
            Network::Regtest => 0x6f,
        }
    }

    /// Base58 version byte used to encode P2SH addresses ("V…" on mainnet).
    pub fn p2sh_version(&self) -> u8 {
        match self {
            Network::Mainnet => 0x46,
            Network::Testnet => 0x41,
            Network::Regtest => 0x3a,
        }
    }

    /// Older P2SH version byte the node still accepts when decoding.
    pub fn p2sh_legacy_version(&self) -> u8 {
        match self {
            Network::Mainnet | Network::Testnet => 0x05,
            Network::Regtest => 0xc4,
        }
    }

    /// WIF private-key version byte.
    pub fn wif_version(&self) -> u8 {
        match self {
            Network::Mainnet => 0x8b,
            Network::Testnet => 0x3a,
            Network::Regtest => 0xef,
        }
    }

    /// Human-readable part of bech32 addresses.
    pub fn bech32_hrp(&self) -> &'static str {
        match self {
            Network::Mainnet => "kva",
            Network::Testnet => "tkva",
            Network::Regtest => "rkva",
        }
    }

    /// The node's message start (`pchMessageStart`), which also opens every record of its
    /// `blocks/blk*.dat` files.
    pub fn magic(&self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x6a, 0xc6, 0x07, 0x9a],
            Network::Testnet => [0xfe, 0xec, 0x65, 0xe4],
            Network::Regtest => [0xfa, 0xbf, 0xb5, 0xda],
        }
    }

    /// The node's subdirectory of its data directory for this network (none for mainnet).
    pub fn data_subdir(&self) -> &'static str {
        match self {
            Network::Mainnet => "",
            Network::Testnet => "testnet8",
            Network::Regtest => "regtest",
        }
    }

    /// All networks, for tests and CLI help.
    pub fn all() -> [Network; 3] {
        [Network::Mainnet, Network::Testnet, Network::Regtest]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::block::Block;
    use crate::chain::hash::from_hex;

    #[test]
    fn genesis_blocks_hash_to_their_constants() {
        for net in Network::all() {
            let block = Block::from_bytes(&from_hex(net.genesis_block_hex()).unwrap()).unwrap();
            assert_eq!(block.header.hash(), net.genesis_hash(), "{net:?}");
            block.validate(Some(0), Some([0; 32])).unwrap();
            assert_eq!(Network::from_name(net.name()), Some(net));
            assert_eq!(Network::from_name(net.node_chain_name()), Some(net));
        }
        assert_eq!(Network::from_name("signet"), None);
    }
}
