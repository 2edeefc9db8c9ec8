//! Shared fixtures of the server tests: an in-memory backend, a test CA and line clients.
#![allow(dead_code)]

pub mod ws;

use keva_electrum::server::{
    self, Answer, Backend, ChainEvent, Protocol, RpcError, ServerHandle, Service, Settings,
    TlsFiles,
};
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A small in-memory backend: the server's test fixture, not a stand-in for the node.
///
/// `echo` returns its params, `big [n]` a string of n bytes, `fail` a code-1 error, `daemon` a
/// code-2 error, `sleep [ms]` sleeps then returns ms, `panic` panics; statuses and the tip
/// live in shared maps the test changes before calling `notify`.
pub struct TestBackend {
    pub statuses: Mutex<HashMap<[u8; 32], Option<String>>>,
    pub tip: Mutex<Value>,
}

impl TestBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(TestBackend {
            statuses: Mutex::new(HashMap::new()),
            tip: Mutex::new(json!({"height": 100, "hex": "ab".repeat(157)})),
        })
    }
}

impl Backend for TestBackend {
    type Worker = u64;

    fn new_worker(&self) -> u64 {
        0
    }

    fn call(&self, calls: &mut u64, method: &str, params: &Value) -> Answer {
        *calls += 1;
        match method {
            "echo" => Answer::ok(params.clone()),
            "big" => {
                let n = params[0].as_u64().unwrap_or(0) as usize;
                Answer::ok(Value::String("x".repeat(n)))
            }
            "fail" => Answer::err(RpcError::bad_request("bad value")),
            "daemon" => Answer::err(RpcError::daemon_error(
                "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain transaction.'})",
            )),
            "sleep" => {
                let ms = params[0].as_u64().unwrap_or(0);
                std::thread::sleep(Duration::from_millis(ms));
                Answer::ok(json!(ms))
            }
            "panic" => panic!("backend failure requested by the test"),
            "blockchain.block.header" => Answer::ok(json!("ab".repeat(157))),
            other => Answer::err(RpcError::unknown_method(other)),
        }
    }

    fn scripthash_status(&self, _: &mut u64, sh: &[u8; 32]) -> Result<Option<String>, RpcError> {
        match self.statuses.lock().get(sh) {
            Some(s) => Ok(s.clone()),
            None => Ok(None),
        }
    }

    fn tip(&self, _: &mut u64) -> Result<Value, RpcError> {
        Ok(self.tip.lock().clone())
    }
}

/// Decodes a scripthash hex string the way the server does (bytes in string order).
pub fn sh(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

pub fn event(tip: Value, touched: Vec<[u8; 32]>) -> ChainEvent {
    ChainEvent { tip, touched }
}

/// A throwaway CA and a server certificate for 127.0.0.1 / localhost, written to a temp dir.
pub struct TestCa {
    pub dir: PathBuf,
    pub ca_pem: String,
    pub files: TlsFiles,
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

impl TestCa {
    /// `rsa`: sign the server certificate for the RSA key (written in PKCS#1 form); else a
    /// fresh ECDSA P-256 key (PKCS#8).
    pub fn new(name: &str, rsa: bool) -> TestCa {
        let dir =
            std::env::temp_dir().join(format!("keva-server-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key_pem).unwrap();
        TestCa {
            dir,
            ca_pem: ca.pem(),
            files: TlsFiles {
                cert: cert_path,
                key: key_path,
            },
        }
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
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
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Settings for a test server on 127.0.0.1 with the given services.
pub fn settings(protocols: &[Protocol]) -> Settings {
    Settings {
        services: protocols
            .iter()
            .map(|p| Service {
                protocol: *p,
                addr: "127.0.0.1:0".parse().unwrap(),
            })
            .collect(),
        workers: 2,
        banner: "test banner".into(),
        features: json!({"genesis_hash": "00", "hash_function": "sha256"}),
        ..Settings::default()
    }
}

pub fn start(settings: Settings) -> (ServerHandle, Arc<TestBackend>) {
    let backend = TestBackend::new();
    let handle = server::start(settings, Arc::clone(&backend)).expect("server starts");
    (handle, backend)
}

/// A blocking line client over any stream.
pub struct Client<S: Read + Write> {
    reader: BufReader<S>,
}

pub type TcpClient = Client<TcpStream>;
pub type TlsClient = Client<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

pub fn tcp(addr: SocketAddr) -> TcpClient {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Client {
        reader: BufReader::new(s),
    }
}

pub fn tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsClient {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    Client {
        reader: BufReader::new(rustls::StreamOwned::new(conn, s)),
    }
}

impl<S: Read + Write> Client<S> {
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let s = self.reader.get_mut();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    pub fn send(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.send_raw(&line);
    }

    /// The next line, parsed; `None` at end of stream.
    pub fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("a JSON line")),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    pub fn expect(&mut self) -> Value {
        self.recv().expect("a reply before end of stream")
    }

    pub fn call(&mut self, method: &str, params: Value, id: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}));
        self.expect()
    }

    /// True when the server closed the connection (EOF or reset) without sending more.
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        match self.reader.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

pub fn err(code: i64, message: &str, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}
