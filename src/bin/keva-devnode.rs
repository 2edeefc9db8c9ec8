//! keva-devnode: the kevacoind stand-in for tests and demos.

fn main() {
    eprintln!("keva-devnode: not built yet");
    std::process::exit(2);
}
