//! `--env-file`: the systemd-style environment file an ElectrumX set-up already has.

use super::{ConfigError, Result};
use std::collections::BTreeMap;

/// Reads a systemd-style environment file (`KEY=value`, `#` comments, optional quotes).
pub fn read_env_file(path: &std::path::Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read --env-file {}: {e}", path.display())))?;
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=').ok_or_else(|| {
            ConfigError(format!(
                "{}:{}: expected KEY=value, found {line:?}",
                path.display(),
                n + 1
            ))
        })?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConfigError(format!(
                "{}:{}: {key:?} is not a variable name",
                path.display(),
                n + 1
            )));
        }
        let value = value.trim();
        let value = strip_quotes(value);
        map.insert(key.to_string(), value.to_string());
    }
    Ok(map)
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_parses_systemd_style() {
        let dir = std::env::temp_dir().join(format!("keva-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("env");
        std::fs::write(
            &path,
            "# comment\nCOIN = Kevacoin\nDAEMON_URL=\"http://a:b@127.0.0.1:9337\"\nexport NET=mainnet\n",
        )
        .unwrap();
        let m = read_env_file(&path).unwrap();
        assert_eq!(m["DAEMON_URL"], "http://a:b@127.0.0.1:9337");
        assert_eq!(m["NET"], "mainnet");
        std::fs::write(&path, "garbage line\n").unwrap();
        assert!(read_env_file(&path).unwrap_err().0.contains(":1:"));
    }
}
