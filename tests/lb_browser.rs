//! The web-wallet path end to end: a real headless Chromium (Debian's `chromium`) runs a page
//! that speaks JSON-RPC over `wss://` to HAProxy, which terminates TLS (variant B of
//! `contrib/haproxy.cfg`) and passes the WebSocket upgrade, behind a PROXY v2 header, to a
//! server's `ws://` port. The page asks for the version, headers and a keva page; the answers
//! must equal what a wallet connected straight to the server gets.

mod lb_common;

use std::time::Duration;

use keva_electrum::chain::keva::index_scripthash;
use keva_electrum::chain::script::scripthash_to_hex;
use lb_common::*;
use serde_json::json;

const PAGE: &str = r#"<!doctype html>
<html><body><script>
const results = {};
function report(r) {
  fetch("/report", {method: "POST", body: JSON.stringify(r)});
}
const ws = new WebSocket("wss://localhost:WSS_PORT/");
let nextId = 0;
const waiting = {};
function call(method, params) {
  return new Promise((resolve) => {
    const id = ++nextId;
    waiting[id] = resolve;
    ws.send(JSON.stringify({jsonrpc: "2.0", id, method, params}));
  });
}
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (waiting[m.id]) { waiting[m.id](m); delete waiting[m.id]; }
};
ws.onerror = () => report({error: "websocket error"});
ws.onopen = async () => {
  results.version = await call("server.version", ["chromium", "1.4"]);
  results.headers = await call("blockchain.block.headers", [0, 3]);
  results.keva = await call("blockchain.keva.get_keyvalues", ["NAMESPACE_SH", -1]);
  report(results);
};
</script></body></html>
"#;

#[test]
fn chromium_talks_json_rpc_over_wss_through_haproxy_tls_termination() {
    let node = start_node(20, 14);
    let (_, ns) = node.keva_namespace("Browser Test").unwrap();
    node.mine(1);
    node.keva_put(&ns, b"greeting", b"hello from the browser test #lb")
        .unwrap();
    node.keva_put(&ns, b"second", b"another value").unwrap();
    node.mine(1);
    let ns_sh = scripthash_to_hex(&index_scripthash(&ns));
    let ca = TestCa::new("lb-browser", false);
    let server = Replica::start("server-a", &node.url(), &ca.files, &[]);
    let cert = ProxyCert::new();
    let proxy = HaProxy::start(Variant::Termination, &[&server], Some(&cert.pem));
    proxy.wait_state("keva_ws", "keva1", "UP", Duration::from_secs(20));

    let page = PAGE
        .replace("WSS_PORT", &proxy.wss.port().to_string())
        .replace("NAMESPACE_SH", &ns_sh);
    let browser = chromium_run(&page, &cert.spki_sha256, Duration::from_secs(60));
    let got = &browser.report;
    assert!(got["error"].is_null(), "the page failed: {got}");

    // The same questions asked by a wallet connected straight to the server.
    let mut direct = Wallet::connect(
        Kind::Tcp,
        [127, 0, 0, 9].into(),
        server.addr(server.ports.tcp),
        None,
    )
    .unwrap();
    let version = direct.call("server.version", json!(["chromium", "1.4"]));
    let headers = direct.call("blockchain.block.headers", json!([0, 3]));
    let keva = direct.call("blockchain.keva.get_keyvalues", json!([ns_sh, -1]));
    assert_eq!(got["version"]["result"], version["result"]);
    assert_eq!(got["headers"]["result"], headers["result"]);
    assert_eq!(headers["result"]["count"], json!(3));
    assert_eq!(got["keva"]["result"], keva["result"]);
    let items = keva["result"]["keyvalues"].as_array().unwrap();
    assert_eq!(items.len(), 3, "registration and two puts: {keva}");

    // The browser's session (still open) is a WebSocket session on the server.
    let sessions = server.admin("sessions", json!([]));
    let flags: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["flags"].as_str())
        .collect();
    assert!(flags.contains(&"WS"), "no WebSocket session: {sessions}");
    eprintln!(
        "chromium over wss through haproxy: version {}, {} headers, {} keva items; sessions {flags:?}",
        got["version"]["result"], headers["result"]["count"], items.len()
    );
    drop(browser);
}
