//! keva-electrum: the server, its admin CLI and the demo.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use keva_electrum::config::{self, Config};

const USAGE: &str = "\
keva-electrum — Electrum-protocol index server for Kevacoin

USAGE:
    keva-electrum [--env-file FILE] [--VARIABLE=value ...]   run the server
    keva-electrum demo [--port PORT]                         run a demo chain and server on loopback
    keva-electrum --help | --version

The server is configured like ElectrumX, with environment variables. `--env-file FILE` reads a
systemd-style file first; `--db-directory DIR`, `--daemon-url URL`, `--net NET` and
`--services LIST` (or any `--variable-name value`) override single variables.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--help") | Some("-h") | Some("help") => {
            print_help();
            ExitCode::SUCCESS
        }
        Some("--version") | Some("-V") => {
            println!("keva-electrum {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("demo") => report(keva_electrum::app::run_demo(&args[1..])),
        _ => match server_config(&args) {
            Ok(config) => report(keva_electrum::app::run(config)),
            Err(e) => {
                eprintln!("keva-electrum: {e}");
                eprintln!("run `keva-electrum --help` for every variable and its default");
                ExitCode::from(2)
            }
        },
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keva-electrum: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_help() {
    print!("{USAGE}");
    println!("\nVARIABLES (ElectrumX names and meanings):");
    for (name, default, meaning) in config::VARIABLES {
        println!("    {name:<20} {default:<12} {meaning}");
    }
}

/// Environment, then `--env-file`, then flags: the later source wins.
fn server_config(args: &[String]) -> Result<Config, String> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    let mut overrides = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))?
            }
        };
        if name == "env-file" {
            let file = config::read_env_file(&PathBuf::from(&value)).map_err(|e| e.to_string())?;
            vars.extend(file);
        } else {
            let var = name.replace('-', "_").to_ascii_uppercase();
            if !config::VARIABLES.iter().any(|(n, _, _)| *n == var) {
                return Err(format!(
                    "unknown option {flag}: `keva-electrum --help` lists them"
                ));
            }
            overrides.insert(var, value);
        }
        i += 1;
    }
    vars.extend(overrides);
    Config::from_vars(&vars).map_err(|e| e.to_string())
}
