//! Parsing of the ElectrumX variables: defaults, syntax and the errors that name the culprit.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        ("DB_DIRECTORY", "/tmp/db"),
        ("DAEMON_URL", "http://u:p@127.0.0.1:9337/"),
        ("COIN", "Kevacoin"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

#[test]
fn defaults_follow_electrumx() {
    let c = Config::from_vars(&vars(&[])).unwrap();
    assert_eq!(c.network, Network::Mainnet);
    assert_eq!(c.max_send, 10_000_000);
    assert_eq!(c.max_sessions, 1000);
    assert_eq!(c.cost_soft_limit, 1000);
    assert_eq!(c.cost_hard_limit, 10_000);
    assert_eq!(c.reorg_limit, 800);
    assert_eq!(c.session_timeout_s, 600);
    assert!(c.services.is_empty());
    assert_eq!(c.peer_discovery, Discovery::On);
}

#[test]
fn services_syntax() {
    let c = Config::from_vars(&vars(&[
        (
            "SERVICES",
            "tcp://:50001,ssl://0.0.0.0:50002,ws://[::1]:50003,rpc://",
        ),
        ("SSL_CERTFILE", "/c.pem"),
        ("SSL_KEYFILE", "/k.pem"),
    ]))
    .unwrap();
    assert_eq!(c.services.len(), 4);
    assert_eq!(c.services[0].host, Host::AllInterfaces);
    assert_eq!(c.services[0].port, 50001);
    assert_eq!(c.services[2].host, Host::Ip("::1".parse().unwrap()));
    assert_eq!(c.services[3].protocol, Protocol::Rpc);
    assert_eq!(c.services[3].port, 8000);
    assert!(c.services[3].is_loopback());
    assert_eq!(c.services[2].to_string(), "ws://[::1]:50003");
}

#[test]
fn malformed_values_name_the_variable() {
    for (k, v) in [
        ("NET", "moonnet"),
        ("COIN", "Bitcoin"),
        ("MAX_SEND", "lots"),
        ("SERVICES", "foo://:1"),
        ("SERVICES", "tcp://:99999"),
        ("SERVICES", "tcp://:50001,ssl://:50001"),
        ("REPORT_SERVICES", "tcp://127.0.0.1:50001"),
        ("LOG_LEVEL", "loud"),
        ("SERVICES", "ssl://:50002"),
        ("DROP_CLIENT", "Electrum(3"),
        ("METRICS_PORT", "nine"),
        ("METRICS_PORT", "metrics.example.com:9100"),
        ("PROXY_PROTOCOL_FROM", "10.0.0.5/24"),
        ("PROXY_PROTOCOL_FROM", "haproxy"),
    ] {
        let err = Config::from_vars(&vars(&[(k, v)])).unwrap_err().0;
        let named = err.contains(k) || (k == "SERVICES" && err.contains("SSL_CERTFILE"));
        assert!(named, "{k}={v}: {err}");
    }
    let mut m = vars(&[]);
    m.remove("DB_DIRECTORY");
    assert!(Config::from_vars(&m)
        .unwrap_err()
        .0
        .contains("DB_DIRECTORY"));
}

#[test]
fn obsolete_variables_are_warned_about() {
    let c = Config::from_vars(&vars(&[("TCP_PORT", "50001")])).unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("TCP_PORT")));
}

#[test]
fn db_engine_is_accepted_with_a_note() {
    let c = Config::from_vars(&vars(&[("DB_ENGINE", "rocksdb")])).unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("SQLite")));
}

#[test]
fn node_directory_block_files_and_parallelism() {
    let c = Config::from_vars(&vars(&[("HOME", "/home/k"), ("NET", "testnet")])).unwrap();
    assert_eq!(c.daemon_dir, Some(PathBuf::from("/home/k/.kevacoin")));
    assert_eq!(
        c.cookie_file(),
        Some(PathBuf::from("/home/k/.kevacoin/testnet8/.cookie"))
    );
    assert!(c.block_files);
    assert_eq!(c.daemon_parallelism, 2);
    let c = Config::from_vars(&vars(&[
        ("DAEMON_DIR", "/srv/keva"),
        ("BLOCK_FILES", "off"),
        ("DAEMON_PARALLELISM", "8"),
    ]))
    .unwrap();
    assert_eq!(c.cookie_file(), Some(PathBuf::from("/srv/keva/.cookie")));
    assert!(!c.block_files);
    assert_eq!(c.daemon_parallelism, 8);
    for (k, v) in [("BLOCK_FILES", "maybe"), ("DAEMON_PARALLELISM", "0")] {
        let err = Config::from_vars(&vars(&[(k, v)])).unwrap_err().0;
        assert!(err.contains(k), "{err}");
    }
}

#[test]
fn metrics_port_takes_a_port_or_an_address_and_a_port() {
    let addr = |v: &str| {
        Config::from_vars(&vars(&[("METRICS_PORT", v)]))
            .unwrap()
            .metrics_addr
    };
    assert_eq!(addr(""), None);
    assert_eq!(addr("9100"), Some("127.0.0.1:9100".parse().unwrap()));
    assert_eq!(
        addr(" 10.0.0.11:9100 "),
        Some("10.0.0.11:9100".parse().unwrap())
    );
    assert_eq!(
        addr("[fd00::11]:9100"),
        Some("[fd00::11]:9100".parse().unwrap())
    );
}

#[test]
fn proxy_protocol_from_lists_trusted_balancers() {
    let c = Config::from_vars(&vars(&[])).unwrap();
    assert!(c.proxy_from.is_empty());
    let c = Config::from_vars(&vars(&[("PROXY_PROTOCOL_FROM", "10.0.0.10, 10.1.0.0/16")])).unwrap();
    assert!(c.proxy_from.contains("10.0.0.10".parse().unwrap()));
    assert!(c.proxy_from.contains("10.1.2.3".parse().unwrap()));
    assert!(!c.proxy_from.contains("10.0.0.11".parse().unwrap()));
}

#[test]
fn banned_hashtags_are_normalised() {
    let c = Config::from_vars(&vars(&[("BANNED_HASHTAGS", " Spam, #Scam ,,")])).unwrap();
    assert_eq!(c.banned_hashtags, vec!["spam", "scam"]);
}
