//! The blocking JSON-RPC client for kevacoind: the only code that talks to the node.
