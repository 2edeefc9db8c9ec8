//! What every test and benchmark process needs: free ports, throwaway directories, child
//! processes with their logs collected, resident-memory sampling, a throwaway TLS CA, and
//! closed-loop client load with its percentiles.
//!
//! Included by the other helper modules with `#[path]`; `KEVA_TEST_ECHO=1` copies child logs to
//! stderr while a test runs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use keva_electrum::server::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

pub const MB: u64 = 1 << 20;

/// The test vectors the repository carries (`tests/vectors/`, where each came from is in its
/// README).
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// A port free right now on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on loopback")
}

/// A directory removed when dropped; unique per process and call.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("keva-test-{name}-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A file name inside the directory.
    pub fn db(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command prefix that runs a program as `nobody` when the tests run as root (so file
/// permissions bind it); empty otherwise.
pub fn as_nobody() -> Vec<String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if root {
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        Vec::new()
    }
}

/// Resident memory of a process in bytes (VmRSS), 0 when it is gone.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Samples a process's RSS every 50 ms on a thread; `peak()` is the highest seen.
pub struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub baseline: u64,
}

impl RssWatch {
    pub fn start(pid: u32) -> RssWatch {
        let baseline = rss(pid);
        let peak = Arc::new(AtomicU64::new(baseline));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        RssWatch {
            peak,
            stop,
            thread: Some(thread),
            baseline,
        }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Asserts the peak stayed within `growth` bytes of the baseline; returns the growth.
    pub fn assert_bounded(&self, what: &str, growth: u64) -> u64 {
        let grew = self.peak().saturating_sub(self.baseline);
        assert!(
            grew <= growth,
            "{what}: server RSS grew by {} MB (baseline {} MB, limit +{} MB)",
            grew / MB,
            self.baseline / MB,
            growth / MB
        );
        eprintln!(
            "{what}: RSS baseline {:.1} MB, peak {:.1} MB",
            self.baseline as f64 / MB as f64,
            self.peak() as f64 / MB as f64
        );
        grew
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A child process killed when dropped, whose stderr lines are collected.
pub struct Proc {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start the binary under test");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                let echo = std::env::var_os("KEVA_TEST_ECHO").is_some();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("  | {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Proc { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Whether a log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logged_all(&[needle])
    }

    /// Whether one log line contains every one of `needles`.
    pub fn logged_all(&self, needles: &[&str]) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| needles.iter().all(|n| l.contains(n)))
    }

    /// Waits until a stderr line contains `needle`; panics with the log after `timeout`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while !self.logged(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "process exited ({status}) before {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "no {needle:?} within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Panics with the log if the process has exited.
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("process exited ({status}):\n{}", self.log());
        }
    }

    /// Sends `signal` (e.g. "TERM") to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "process still running after {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the process to stop (SIGTERM), waits up to 20 s, then kills it; returns whether
    /// it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `keva-devnode` binary on a free port, serving blocks at no cost; returns it and
/// its `DAEMON_URL`.
pub fn start_devnode_binary(blocks: u32, shape: &str, seed: u64) -> (Proc, String) {
    start_devnode_binary_with(blocks, shape, seed, &["--block-read-ms", "0"])
}

/// [`start_devnode_binary`] with more options (e.g. `--datadir DIR`, `--block-read-ms 25`).
pub fn start_devnode_binary_with(
    blocks: u32,
    shape: &str,
    seed: u64,
    extra: &[&str],
) -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keva-devnode"));
    cmd.args([
        "--rpcbind",
        &format!("127.0.0.1:{port}"),
        "--blocks",
        &blocks.to_string(),
        "--shape",
        shape,
        "--seed",
        &seed.to_string(),
    ]);
    cmd.args(extra);
    let mut node = Proc::spawn(cmd);
    node.wait_for("listening on", Duration::from_secs(600));
    (node, format!("http://user:pass@127.0.0.1:{port}/"))
}

/// A throwaway CA and a server certificate for 127.0.0.1 / localhost, written as PEM files.
pub struct TestCa {
    pub dir: TempDir,
    pub ca_pem: String,
    pub files: TlsFiles,
}

impl TestCa {
    /// `rsa`: sign the server certificate for a fixed RSA key (written in PKCS#1 form); else
    /// a fresh ECDSA P-256 key (PKCS#8).
    pub fn new(name: &str, rsa: bool) -> TestCa {
        let dir = TempDir::new(&format!("ca-{name}"));
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "keva test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        let (key, key_pem) = if rsa {
            let key = rcgen::KeyPair::from_pem(RSA_PKCS8).unwrap();
            (key, RSA_PKCS1.to_string())
        } else {
            let key = rcgen::KeyPair::generate().unwrap();
            let pem = key.serialize_pem();
            (key, pem)
        };
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let files = TlsFiles {
            cert: dir.0.join("cert.pem"),
            key: dir.0.join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key_pem).unwrap();
        TestCa {
            dir,
            ca_pem: ca.pem(),
            files,
        }
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        trusting(&self.ca_pem)
    }
}

/// A rustls client configuration (ring provider) trusting only the certificates in `pem`.
pub fn trusting(pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

pub const RSA_PKCS8: &str = r#"-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDU/zRtTvPA+ZSL
EcFxzp+yY6umNrsSKdned55819C8OjSQetJACf+jneWz1HMarUS3Fr1XkgyOEXVD
jdPZPAS7aECgae6RcFoWeaz1/OE91YaJZyB4jUBhxvyTmV0KqIzp0iYdN/LyOCy/
8qF/dcrp9KV82dUmlnvYw80CVpRJWiZ05YGH9m0ej7M+EVtRML+l2iAzUM/8odLZ
3Y5vbD3RlLQzxSCr8eSEZFzAUaNgVFgClrVhia9OJYIPvJALvdzSI1tZKWQtYJuy
rQszl2roTBwGB8iBn7umYMdK2pptAKA2k9mvNU8U46R41ESfIgYjBhqmH122+SLy
W/uwfXizAgMBAAECggEAFNjnuj0siXpEKjpyKx/0rIKp5cpclAIJo4ckuYZsFUhD
JdMHqiHwZgTJ20iTfYxw+dSdcqlGVk9qIVML5arEsc0Z6jmEErMi9ikxnyABscoo
8WDpIjN9FjTiOtYbb7QgmrApb9muizupUZ4/ZVjTpAOAgRBXFwBKneRIOA7eU7Fz
4CigTNEY3BVliE/YDvwR0zOW9dgbfHgyVwLDhxK6Hl56814ZfHwhFBL4ejIzU1YK
8HYP+nr+vxH5V8FFx/gz7j4DBFEj0T1s1HQ1KpLchFecIJfqrmMPYGVcs+j10QvY
fMa1ld333sSthigC2aIHEEU+6FOvQrbwtWGzSkxOiQKBgQD37ODRc+/hthhpOr+2
dkAYeLNumO4NnlSvBK96zx5Hi0gjFYMnr5KMRsqYLP+QCKbDDouF7r7GKhlp1XoT
7admpgH/XLxxHJ4Rcz2CHMWbSiUEW7qRioi4Mv0jJQhOTGBnZxr8evg7nRewEs1B
0CWoKBVCGGFcjUJz9yJCs2cKyQKBgQDb7xrMosQq+rRTgMywvDReAuPrJ8NEc1ip
V4pdtHLe51mqFnQQoP6uYJlyUK85QVBhyf+2uGBDZMqvsfvdBz16KmBn9zsoK4J2
YK3KJoXcBYNxxeCcGpmMFTul2l2sK2o5EKL5ZaoZfB/+GmrTF0RWEPVjdMFQRIt2
6l4IkYHpmwKBgFKa7l1bT7XYwlFtbasRw1FkBgT3l3maI4Uc/orgr6oO0j4+ULDM
YvuyKpaBh7Up7MZY9kvtvEqyhD0rD73MFVayQUAgWfkmG9ScnQXZKE4RajwFhCgy
DFOzSXyIPjg4YnaReABfyI20Tcwwt4sSGznoAQ1Aqk/4EQgqc5PdypthAoGAK/A/
9WQLNt7xScFwo1pmR+Xh7Of7veAhdWt0zDWxwVCM/EsSEwRm/SV1Yn42E4U17uNx
P+rj6HLpf2JahBTfNlni+sJMwkC3BrlX3wwFMCi10vQKZIV36aGQUhknH69owE/P
j229JuxCY/yZHOUIFP28WItJ16RqDG7ULHgNcUMCgYAlLi0HKyA2eI6X00oS4mXp
nZM7UJEW/1wO/x7yRox9tZDz5A4OnOzVJKvkGmK7ATfHittyKTKVYXaYHSKNRaTz
qcSY7zDWbQ1eq0zKjK/ippuKvcCYqQA5vEh2p7NeUgeW5j5ljVXUxXqzKt5QFpEx
rUpnWLnFDMltO0rXyl6BxA==
-----END PRIVATE KEY-----"#;
pub const RSA_PKCS1: &str = r#"-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEA1P80bU7zwPmUixHBcc6fsmOrpja7EinZ3neefNfQvDo0kHrS
QAn/o53ls9RzGq1Etxa9V5IMjhF1Q43T2TwEu2hAoGnukXBaFnms9fzhPdWGiWcg
eI1AYcb8k5ldCqiM6dImHTfy8jgsv/Khf3XK6fSlfNnVJpZ72MPNAlaUSVomdOWB
h/ZtHo+zPhFbUTC/pdogM1DP/KHS2d2Ob2w90ZS0M8Ugq/HkhGRcwFGjYFRYApa1
YYmvTiWCD7yQC73c0iNbWSlkLWCbsq0LM5dq6EwcBgfIgZ+7pmDHStqabQCgNpPZ
rzVPFOOkeNREnyIGIwYaph9dtvki8lv7sH14swIDAQABAoIBABTY57o9LIl6RCo6
cisf9KyCqeXKXJQCCaOHJLmGbBVIQyXTB6oh8GYEydtIk32McPnUnXKpRlZPaiFT
C+WqxLHNGeo5hBKzIvYpMZ8gAbHKKPFg6SIzfRY04jrWG2+0IJqwKW/Zros7qVGe
P2VY06QDgIEQVxcASp3kSDgO3lOxc+AooEzRGNwVZYhP2A78EdMzlvXYG3x4MlcC
w4cSuh5eevNeGXx8IRQS+HoyM1NWCvB2D/p6/r8R+VfBRcf4M+4+AwRRI9E9bNR0
NSqS3IRXnCCX6q5jD2BlXLPo9dEL2HzGtZXd997ErYYoAtmiBxBFPuhTr0K28LVh
s0pMTokCgYEA9+zg0XPv4bYYaTq/tnZAGHizbpjuDZ5UrwSves8eR4tIIxWDJ6+S
jEbKmCz/kAimww6Lhe6+xioZadV6E+2nZqYB/1y8cRyeEXM9ghzFm0olBFu6kYqI
uDL9IyUITkxgZ2ca/Hr4O50XsBLNQdAlqCgVQhhhXI1Cc/ciQrNnCskCgYEA2+8a
zKLEKvq0U4DMsLw0XgLj6yfDRHNYqVeKXbRy3udZqhZ0EKD+rmCZclCvOUFQYcn/
trhgQ2TKr7H73Qc9eipgZ/c7KCuCdmCtyiaF3AWDccXgnBqZjBU7pdpdrCtqORCi
+WWqGXwf/hpq0xdEVhD1Y3TBUESLdupeCJGB6ZsCgYBSmu5dW0+12MJRbW2rEcNR
ZAYE95d5miOFHP6K4K+qDtI+PlCwzGL7siqWgYe1KezGWPZL7bxKsoQ9Kw+9zBVW
skFAIFn5JhvUnJ0F2ShOEWo8BYQoMgxTs0l8iD44OGJ2kXgAX8iNtE3MMLeLEhs5
6AENQKpP+BEIKnOT3cqbYQKBgCvwP/VkCzbe8UnBcKNaZkfl4ezn+73gIXVrdMw1
scFQjPxLEhMEZv0ldWJ+NhOFNe7jcT/q4+hy6X9iWoQU3zZZ4vrCTMJAtwa5V98M
BTAotdL0CmSFd+mhkFIZJx+vaMBPz49tvSbsQmP8mRzlCBT9vFiLSdekagxu1Cx4
DXFDAoGAJS4tBysgNniOl9NKEuJl6Z2TO1CRFv9cDv8e8kaMfbWQ8+QODpzs1SSr
5BpiuwE3x4rbcikylWF2mB0ijUWk86nEmO8w1m0NXqtMyoyv4qabir3AmKkAObxI
dqezXlIHluY+ZY1V1MV6syreUBaRMa1KZ1i5xQzJbTtK18pegcQ=
-----END RSA PRIVATE KEY-----"#;

/// What closed-loop clients measured.
pub struct Load {
    pub requests: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
}

/// `clients` threads, each with its own connection from `connect`, calling `call(connection,
/// n)` back to back for `duration` (`n` counts up from the thread's number); `call` says
/// whether the answer was not an error. Timing starts once every client is connected.
pub fn closed_loop<C: 'static>(
    clients: usize,
    duration: Duration,
    connect: impl Fn() -> C + Send + Sync + 'static,
    call: impl Fn(&mut C, usize) -> bool + Send + Sync + 'static,
) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(clients + 1));
    let (connect, call) = (Arc::new(connect), Arc::new(call));
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, ready) = (stop.clone(), ready.clone());
            let (connect, call) = (connect.clone(), call.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut c = connect();
                    ready.wait();
                    let mut lat = Vec::with_capacity(4096);
                    let mut errors = 0;
                    let mut n = i;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let ok = call(&mut c, n);
                        lat.push(t.elapsed());
                        errors += usize::from(!ok);
                        n += 1;
                    }
                    (lat, errors)
                })
                .expect("spawn a client thread")
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("client thread");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    Load {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

/// The p-th percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
