//! Configuration from ElectrumX-compatible environment variables.
