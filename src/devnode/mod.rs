//! A kevacoind stand-in for tests and the demo: a generated regtest chain served over HTTP JSON-RPC.
