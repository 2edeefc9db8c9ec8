//! Wires the threads together: index, sync, mempool, server; and the demo.

use crate::config::Config;

/// Runs the server until it is stopped.
pub fn run(config: Config) -> Result<(), String> {
    for warning in &config.warnings {
        eprintln!("config: {warning}");
    }
    println!("network:   {}", config.network.name());
    println!("index:     {}", config.db_path().display());
    println!("services:  {}", join(&config.services));
    Err("serving is not wired up in this build".into())
}

/// Runs the demo: a stand-in node with a generated chain and the server against it.
pub fn run_demo(_args: &[String]) -> Result<(), String> {
    Err("the demo is not wired up in this build".into())
}

fn join(items: &[impl std::fmt::Display]) -> String {
    items
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
