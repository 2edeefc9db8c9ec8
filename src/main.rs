//! keva-electrum: the server, its admin CLI and the demo.

fn main() {
    eprintln!("keva-electrum: not built yet");
    std::process::exit(2);
}
