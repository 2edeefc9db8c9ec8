//! The Electrum server: one mio event loop owning every socket, and a worker pool running requests.
