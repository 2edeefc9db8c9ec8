//! One real `kevacoind` process in regtest: found in its documented place, started in its own
//! data directory on free loopback ports, spoken to over HTTP JSON-RPC, killed when dropped
//! (with the tail of its `debug.log` printed when a test fails).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{free_port, TempDir};

/// Where the tests look for the node: `KEVACOIND` names the `kevacoind` binary or a directory
/// holding it (or holding `bin/kevacoind`); without it, `../shared/kevacoind/` beside the
/// checkout. The binary must run (`kevacoind -version`): a missing binary or run-time library
/// fails the test, it never skips it.
pub fn kevacoind_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let (place, path) = match std::env::var_os("KEVACOIND") {
            Some(p) => ("KEVACOIND", PathBuf::from(p)),
            None => (
                "the default place",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kevacoind"),
            ),
        };
        let binary = [
            path.clone(),
            path.join("kevacoind"),
            path.join("bin/kevacoind"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kevacoind not found at {} ({place}): set KEVACOIND to the kevacoind binary \
                     or its directory, or put the node built by ../shared/kevacoind/build.sh in \
                     ../shared/kevacoind/bin/ (README: \"Testing against the real node\")",
                path.display()
            )
        });
        let out = Command::new(&binary)
            .arg("-version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        assert!(
            out.status.success(),
            "{} -version failed ({}): {}\ninstall its run-time packages (README: \"Testing \
             against the real node\" lists them; .ci/run installs them)",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        binary
    })
}

/// The node's version line (`kevacoind -version`), part of the key of cached chains.
pub fn kevacoind_version() -> String {
    let out = Command::new(kevacoind_binary())
        .arg("-version")
        .output()
        .expect("run kevacoind -version");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// How clients authenticate to the node's RPC.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Auth {
    /// `-rpcuser=u -rpcpassword=p`.
    Password,
    /// No `-rpcuser`: the node writes `regtest/.cookie` in its data directory.
    Cookie,
}

const RPC_USER: &str = "u";
const RPC_PASSWORD: &str = "p";

/// A running (or stopped) regtest kevacoind.
pub struct Kevacoind {
    /// The directory to use as `HOME` so that `~/.kevacoin` is the node's data directory.
    home: Option<TempDir>,
    /// `-datadir` (the network's files are in `regtest/` below it).
    pub datadir: PathBuf,
    pub rpc_port: u16,
    p2p_port: u16,
    auth: Auth,
    /// Extra command-line arguments, kept for restarts.
    args: Vec<String>,
    child: Option<Child>,
    agent: ureq::Agent,
}

impl Kevacoind {
    /// A node in a new temporary home, on `<home>/.kevacoin` copied from `chain` (a stopped
    /// node's data directory) or empty.
    pub fn start(chain: Option<&Path>, auth: Auth, args: &[&str]) -> Kevacoind {
        let home = TempDir::new("kevacoind");
        let datadir = home.path().join(".kevacoin");
        if let Some(src) = chain {
            copy_datadir(src, &datadir);
        }
        Kevacoind::start_in(datadir, Some(home), auth, args)
    }

    /// A node on `datadir`, which is kept after the node is gone, with extra `args`.
    pub fn start_in(
        datadir: PathBuf,
        home: Option<TempDir>,
        auth: Auth,
        args: &[&str],
    ) -> Kevacoind {
        std::fs::create_dir_all(&datadir).expect("create the node's data directory");
        let mut node = Kevacoind {
            home,
            datadir,
            rpc_port: 0,
            p2p_port: 0,
            auth,
            args: args.iter().map(|a| a.to_string()).collect(),
            child: None,
            // Kept-alive connections for several threads at once (the benchmark's callers).
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(300))
                .max_idle_connections_per_host(8)
                .build(),
        };
        // A port picked free can be taken before the node binds it: pick again.
        for attempt in 1.. {
            node.rpc_port = free_port();
            node.p2p_port = free_port();
            match node.launch() {
                Ok(()) => break,
                Err(e) if e.contains("bind") && attempt < 5 => continue,
                Err(e) => panic!("kevacoind did not start: {e}"),
            }
        }
        node
    }

    /// `HOME` for a server that should find the node's cookie in `~/.kevacoin/regtest/`.
    pub fn home(&self) -> &Path {
        self.home
            .as_ref()
            .map(TempDir::path)
            .expect("this node has no home directory")
    }

    /// `DAEMON_URL` for the server: with the password, or bare (cookie authentication).
    pub fn url(&self) -> String {
        match self.auth {
            Auth::Password => format!(
                "http://{RPC_USER}:{RPC_PASSWORD}@127.0.0.1:{}/",
                self.rpc_port
            ),
            Auth::Cookie => format!("http://127.0.0.1:{}/", self.rpc_port),
        }
    }

    /// The node's `blocks/` directory.
    pub fn blocks_dir(&self) -> PathBuf {
        self.datadir.join("regtest/blocks")
    }

    fn launch(&mut self) -> Result<(), String> {
        let stderr_path = self.datadir.join("kevacoind.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("create the node's stderr file");
        let mut cmd = Command::new(kevacoind_binary());
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-port={}", self.p2p_port))
            .args([
                "-server=1",
                "-txindex=1",
                "-listen=0",
                "-connect=0",
                "-dnsseed=0",
                "-rpcbind=127.0.0.1",
                "-rpcallowip=127.0.0.1",
                "-fallbackfee=0.001",
                "-keypool=20",
                "-dbcache=32",
                "-printtoconsole=0",
                // A cached chain's tip may be days old: without this the node would call
                // itself in initial block download and refuse keva_filter.
                "-maxtipage=2000000000",
                // Start-up re-reads (and so re-hashes) only the tip block, not the last 24.
                "-checkblocks=1",
                "-checklevel=0",
            ])
            .args(&self.args);
        if self.auth == Auth::Password {
            cmd.arg(format!("-rpcuser={RPC_USER}"))
                .arg(format!("-rpcpassword={RPC_PASSWORD}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kevacoind_binary().display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!(
                    "kevacoind exited ({status}) while starting: {}\n{}",
                    stderr.trim(),
                    self.log_tail(30)
                ));
            }
            if self.cookie_ready() {
                match self.rpc("getblockchaininfo", json!([])) {
                    Ok(_) => return Ok(()),
                    Err(e) if e["code"] == -28 || e["code"] == "transport" => {}
                    Err(e) => return Err(format!("getblockchaininfo failed: {e}")),
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "kevacoind not answering within 120 s\n{}",
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cookie_ready(&self) -> bool {
        self.auth == Auth::Password || self.cookie_path().exists()
    }

    fn cookie_path(&self) -> PathBuf {
        self.datadir.join("regtest/.cookie")
    }

    /// Asks the node to stop and waits until the process has exited.
    pub fn stop(&mut self) {
        let _ = self.rpc("stop", json!([]));
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(120);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("kevacoind did not stop within 120 s\n{}", self.log_tail(30));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts the stopped node again, on the same data directory and ports.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running node");
        if let Err(e) = self.launch() {
            panic!("kevacoind did not start again: {e}");
        }
    }

    /// The last `n` lines of the node's `debug.log`.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.datadir.join("regtest/debug.log"))
            .unwrap_or_else(|e| format!("(no debug.log: {e})"));
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- kevacoind debug.log (last {n} lines) ---\n{}",
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }

    fn auth_header(&self) -> String {
        let user_pass = match self.auth {
            Auth::Password => format!("{RPC_USER}:{RPC_PASSWORD}"),
            Auth::Cookie => std::fs::read_to_string(self.cookie_path())
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    /// POSTs a JSON-RPC body; the raw reply body, or a transport error as a JSON error.
    fn post(&self, body: &Value) -> Result<Vec<u8>, Value> {
        let url = format!("http://127.0.0.1:{}/", self.rpc_port);
        let reply = match self
            .agent
            .post(&url)
            .set("Authorization", &self.auth_header())
            .send_json(body)
        {
            Ok(r) => r,
            // The node answers RPC errors with HTTP 500 and a JSON body.
            Err(ureq::Error::Status(code, r)) if code == 500 || code == 404 => r,
            Err(ureq::Error::Status(code, _)) => {
                return Err(json!({"code": "http", "message": format!("HTTP {code}")}))
            }
            Err(e) => return Err(json!({"code": "transport", "message": e.to_string()})),
        };
        let mut bytes = Vec::new();
        reply
            .into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| json!({"code": "transport", "message": e.to_string()}))?;
        Ok(bytes)
    }

    /// One JSON-RPC call: the result, or the node's error object.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
        let bytes = self.post(&body)?;
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "kevacoind {method} replied with invalid JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        split_reply(reply)
    }

    /// One JSON-RPC call that must succeed.
    pub fn call(&self, method: &str, params: Value) -> Value {
        self.rpc(method, params.clone()).unwrap_or_else(|e| {
            panic!(
                "kevacoind {method} {params} failed: {e}\n{}",
                self.log_tail(20)
            )
        })
    }

    /// A call whose strings may hold raw bytes: the node writes keva keys and values into JSON
    /// strings unescaped, which need not be UTF-8. Parsed as Latin-1, so every string maps back
    /// to its exact bytes with [`bytes_of`].
    pub fn call_bytes(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
        let bytes = self
            .post(&body)
            .unwrap_or_else(|e| panic!("kevacoind {method} failed: {e}"));
        let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
        let reply: Value = serde_json::from_str(&latin1).expect("the node's reply is JSON");
        split_reply(reply).unwrap_or_else(|e| panic!("kevacoind {method} {params} failed: {e}"))
    }

    /// The same method with each of `params`, in one JSON-RPC batch.
    pub fn batch(&self, method: &str, params: &[Value]) -> Vec<Value> {
        let body: Vec<Value> = params
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"jsonrpc": "1.0", "id": i, "method": method, "params": p}))
            .collect();
        let bytes = self
            .post(&json!(body))
            .unwrap_or_else(|e| panic!("kevacoind batch {method} failed: {e}"));
        let mut replies: Vec<Value> =
            serde_json::from_slice(&bytes).expect("the node's batch reply is a JSON list");
        replies.sort_by_key(|r| r["id"].as_u64());
        replies
            .into_iter()
            .map(|r| split_reply(r).unwrap_or_else(|e| panic!("batch {method}: {e}")))
            .collect()
    }

    /// Mines `n` blocks to the node's wallet (at most 25 per call, so no call runs long).
    pub fn mine(&self, n: u64) -> Vec<String> {
        let mut hashes = Vec::new();
        let mut left = n;
        while left > 0 {
            let step = left.min(25);
            let got = self.call("generate", json!([step]));
            hashes.extend(
                got.as_array()
                    .expect("generate returns hashes")
                    .iter()
                    .map(|h| h.as_str().unwrap().to_string()),
            );
            left -= step;
        }
        hashes
    }

    /// The node's height.
    pub fn height(&self) -> u64 {
        self.call("getblockcount", json!([])).as_u64().unwrap()
    }

    /// Block hashes of heights `0..=tip`.
    pub fn hashes(&self) -> Vec<String> {
        let tip = self.height();
        let params: Vec<Value> = (0..=tip).map(|h| json!([h])).collect();
        self.batch("getblockhash", &params)
            .into_iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }

    /// Raw headers (hex) of heights `0..=tip`, as the node serializes them.
    pub fn headers(&self) -> Vec<String> {
        let params: Vec<Value> = self
            .hashes()
            .into_iter()
            .map(|h| json!([h, false]))
            .collect();
        self.batch("getblockheader", &params)
            .into_iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }

    /// CPU time the node process has used so far (user + system), from `/proc`.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.as_ref().expect("the node is running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: u64 = fields
            .get(11..13)
            .map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Kills the process at once (the data directory stays as it is).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Kevacoind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(40));
        }
        self.kill();
    }
}

/// The exact bytes of a string from [`Kevacoind::call_bytes`].
pub fn bytes_of(v: &Value) -> Vec<u8> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn split_reply(reply: Value) -> Result<Value, Value> {
    if reply["error"].is_null() {
        Ok(reply["result"].clone())
    } else {
        Err(reply["error"].clone())
    }
}

/// Copies a stopped node's data directory, leaving out its lock, cookie, pid and logs.
pub fn copy_datadir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create the copy's directory");
    for entry in std::fs::read_dir(src).expect("read the chain directory") {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if matches!(
            name.as_ref(),
            ".lock" | ".cookie" | "kevacoind.pid" | "debug.log" | "kevacoind.stderr"
        ) {
            continue;
        }
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            copy_datadir(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
    }
}
