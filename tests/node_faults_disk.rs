//! A full disk and a read-only index under the real binary: the sync stops with a clear
//! message, serving continues, nothing indexed is damaged, and the sync resumes when the disk
//! is writable again.
//!
//! The full disk is a small tmpfs mounted for the test (needs root, as in CI). Where mounting is
//! impossible the server's file-size limit (RLIMIT_FSIZE, changed on the running process with
//! `prlimit`) makes writes fail the same way (EFBIG instead of ENOSPC).

mod hostile_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hostile_common::*;

/// A tmpfs of `size_kb` mounted on a fresh directory; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size_kb: u64) -> Option<Tmpfs> {
        if std::env::var_os("KEVA_TEST_NO_MOUNT").is_some() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("keva-disk-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_kb}k,mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Tmpfs(dir))
        } else {
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fills the file system holding `dir` with a file, up to ENOSPC.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

fn set_fsize(pid: u32, limit: &str) {
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={limit}:")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "prlimit --fsize failed: neither a tmpfs nor RLIMIT_FSIZE is available"
    );
}

#[test]
fn full_disk_pauses_the_sync_and_serving_continues() {
    let node = start_node(30, 21);
    let tmpfs = Tmpfs::mount("full", 8 * 1024);
    let fallback = TempDir::new("full");
    let dir = tmpfs.as_ref().map_or(fallback.path(), |t| t.0.as_path());
    eprintln!(
        "full disk via {}",
        if tmpfs.is_some() {
            "a tmpfs of 8 MB"
        } else {
            "RLIMIT_FSIZE (no mount permission)"
        }
    );
    let db = dir.join("index.db");
    let mut server = Server::start(
        ServerOpts::new(node.url(), dir)
            .env("CACHE_MB", "4")
            // The trap keeps SIGXFSZ from killing the process in the RLIMIT_FSIZE variant.
            .shell(Some("trap '' XFSZ;".to_string())),
    );
    let before = audit(&mut server, &node);
    let good = node.height();
    let filler = if tmpfs.is_some() {
        Some(fill(dir))
    } else {
        let size = std::fs::metadata(&db).unwrap().len();
        let wal = std::fs::metadata(dir.join("index.db-wal")).map_or(0, |m| m.len());
        set_fsize(server.pid(), &size.max(wal).to_string());
        None
    };
    // Enough new blocks with payments that the writes cannot fit.
    for _ in 0..10 {
        let (script, _) = node.new_address(keva_electrum::devnode::AddrKind::P2pkh);
        for _ in 0..20 {
            node.pay(&script, 100_000).unwrap();
        }
        node.mine(1);
    }
    server.wait_for("cannot write the index", Duration::from_secs(20));
    let line = server
        .proc
        .lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("cannot write the index"))
        .cloned()
        .unwrap();
    eprintln!("{line}");
    assert!(
        line.contains("free disk space"),
        "the message names the fix: {line}"
    );
    // Serving continues from the last good state.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        let h = server.height();
        assert!(h >= u64::from(good), "the served tip went back to {h}");
        server.probe();
        std::thread::sleep(Duration::from_millis(200));
    }
    server.assert_alive();
    let stuck = server.height();
    assert!(
        stuck < u64::from(node.height()),
        "the sync was never stopped by the disk"
    );
    // Space returns.
    match filler {
        Some(f) => std::fs::remove_file(f).unwrap(),
        None => set_fsize(server.pid(), "unlimited"),
    }
    server.wait_height(u64::from(node.height()), Duration::from_secs(20));
    server.wait_for("writable again", Duration::from_secs(5));
    let after = audit(&mut server, &node);
    assert!(integrity_ok(&db), "the index is damaged");
    eprintln!(
        "full disk: stopped at height {stuck}, resumed to {}; {} cases audited, {} lost",
        node.height(),
        before.cases + after.cases,
        before.lost + after.lost
    );
    server.terminate();
}

#[test]
fn read_only_index_directory_is_served_and_sync_waits() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let runner = as_nobody();
    assert!(
        !runner.is_empty(),
        "this test needs root to run the server as another user (CI runs as root)"
    );
    let node = start_node(30, 22);
    let top = TempDir::new("ro");
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = top.path().join("db");
    std::fs::create_dir_all(&dir).unwrap();
    chown(&dir, Some(65534), Some(65534)).unwrap();
    let db = dir.join("index.db");
    let mut opts = ServerOpts::new(node.url(), &dir);
    opts.runner = runner.clone();
    let mut server = Server::start(opts);
    let before = audit(&mut server, &node);
    assert!(server.terminate(), "clean shutdown:\n{}", server.log());
    // The directory and the files now belong to someone else: nothing is writable.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        chown(&p, Some(0), Some(0)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    chown(&dir, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    node.mine(3);
    let mut opts = ServerOpts::new(node.url(), &dir);
    opts.runner = runner;
    let mut server = Server::start(opts);
    server.wait_for("cannot write the index", Duration::from_secs(10));
    let line = server
        .proc
        .lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("cannot write the index"))
        .cloned()
        .unwrap();
    eprintln!("{line}");
    assert!(
        line.contains("writable by this user and restart"),
        "names the fix: {line}"
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        assert_eq!(server.height(), 30, "the indexed chain is served");
        server.probe();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(integrity_ok(&db), "the index is damaged");
    // Writable again and restarted, as the message says: the sync catches up.
    assert!(server.terminate(), "clean shutdown:\n{}", server.log());
    chown(&dir, Some(65534), Some(65534)).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        chown(entry.unwrap().path(), Some(65534), Some(65534)).unwrap();
    }
    let mut opts = ServerOpts::new(node.url(), &dir);
    opts.runner = as_nobody();
    let mut server = Server::start(opts);
    server.wait_height(33, Duration::from_secs(20));
    let after = audit(&mut server, &node);
    assert!(integrity_ok(&db), "the index is damaged");
    eprintln!(
        "read-only index: served at 30 while unwritable, resumed to 33 after a restart; {} cases audited, {} lost",
        before.cases + after.cases,
        before.lost + after.lost
    );
}
