#!/bin/sh
# Fuzzes every target briefly with libFuzzer (cargo-fuzz) and reports what it found.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler. On stable Rust the
# sanitizer flags need RUSTC_BOOTSTRAP=1, which this script sets. New corpus entries go to a
# scratch directory (the committed seeds in fuzz/seeds/ stay as they are); a crash is left in
# fuzz/artifacts/<target>/ — copy it to fuzz/regressions/<target>/ so that
# `cargo test --test hostile_fuzz_corpus` replays it forever after the fix.
set -eu
cd "$(dirname "$0")"
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"block_and_tx keva_script header_chain session ws_frames admin_command proxy_header"}
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build -O >/dev/null 2>&1 || cargo fuzz build -O
failed=0
for t in $targets; do
    mkdir -p "$scratch/$t" "regressions/$t"
    log="$scratch/$t.log"
    if cargo fuzz run -O "$t" "$scratch/$t" "seeds/$t" "regressions/$t" -- \
        -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    echo "$t: $status, $runs runs in ${secs}s, coverage $cov, corpus $(ls "$scratch/$t" | wc -l) new"
    if [ "$status" = CRASH ]; then
        grep -m1 -A20 'ERROR\|panicked' "$log" || tail -30 "$log"
    fi
done
exit $failed
