//! Kevacoin chain encoding: headers, transactions, scripts, addresses and keva operations (pure, no I/O).
