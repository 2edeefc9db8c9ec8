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
    keva-electrum rpc [-p|--port PORT] COMMAND [ARGS]        admin commands (like electrumx_rpc)
    keva-electrum [--env-file FILE] ban TXID [REASON]        hide a transaction's keva content
    keva-electrum [--env-file FILE] unban TXID               show it again
    keva-electrum [--env-file FILE] banned                   list banned transactions
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
        Some("demo") => report(keva_electrum::demo::run(&args[1..])),
        Some("rpc") => ExitCode::from(keva_electrum::admin::cli(&args[1..]) as u8),
        _ if moderation_command(&args).is_some() => report(moderate(&args)),
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

/// The position of `ban`, `unban` or `banned` after optional `--env-file FILE`.
fn moderation_command(args: &[String]) -> Option<usize> {
    let i = if args.first().map(String::as_str) == Some("--env-file") {
        2
    } else {
        0
    };
    matches!(
        args.get(i).map(String::as_str),
        Some("ban" | "unban" | "banned")
    )
    .then_some(i)
}

/// Moderation of keva content, written straight into the index (safe while the server runs:
/// SQLite serialises the write with the sync thread's). Bans are keyed by txid, so they survive
/// restarts, reorgs and resyncs; every keva method hides banned content on its next call.
fn moderate(args: &[String]) -> Result<(), String> {
    use keva_electrum::chain::hash::{hash_from_hex, hash_to_hex};
    use keva_electrum::chain::Network;
    let at = moderation_command(args).ok_or("expected ban, unban or banned")?;
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    if at == 2 {
        vars.extend(config::read_env_file(&PathBuf::from(&args[1])).map_err(|e| e.to_string())?);
    }
    let dir = vars
        .get("DB_DIRECTORY")
        .filter(|d| !d.is_empty())
        .ok_or("DB_DIRECTORY is not set: use the server's environment (or --env-file FILE)")?;
    let net = vars.get("NET").map_or("mainnet", String::as_str);
    let network =
        Network::from_name(net).ok_or_else(|| format!("NET={net:?} is not a Kevacoin network"))?;
    let db = keva_electrum::index::db::db_path(std::path::Path::new(dir));
    let rest = &args[at + 1..];
    let txid = |s: Option<&String>| {
        let s = s.ok_or("a transaction id is needed")?;
        hash_from_hex(s).map_err(|e| format!("{s:?} is not a transaction id: {e}"))
    };
    match args[at].as_str() {
        "ban" => {
            let txid = txid(rest.first())?;
            let reason = match rest.get(1) {
                Some(r) => r
                    .parse::<u32>()
                    .map_err(|_| format!("reason {r:?} must be a whole number (e.g. 1 = spam)"))?,
                None => 0,
            };
            keva_electrum::index::writer::set_ban(&db, network, &txid, Some(reason))
                .map_err(|e| e.to_string())?;
            println!("banned {} (reason {reason})", hash_to_hex(&txid));
        }
        "unban" => {
            let txid = txid(rest.first())?;
            let changed = keva_electrum::index::writer::set_ban(&db, network, &txid, None)
                .map_err(|e| e.to_string())?;
            let word = if changed {
                "unbanned"
            } else {
                "was not banned:"
            };
            println!("{word} {}", hash_to_hex(&txid));
        }
        _ => {
            let reader =
                keva_electrum::index::Reader::open(&db, network, 1).map_err(|e| e.to_string())?;
            let banned = reader.banned().map_err(|e| e.to_string())?;
            println!("{:<64}  reason", "txid");
            for (txid, reason) in &banned {
                println!("{}  {reason}", hash_to_hex(txid));
            }
            println!("{} banned", banned.len());
        }
    }
    Ok(())
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
