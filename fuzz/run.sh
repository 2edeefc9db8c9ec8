#!/bin/sh
# Fuzzes every target briefly with libFuzzer (cargo-fuzz) and reports what it found.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#   RUNS=10000000 fuzz/run.sh 3600 TARGET             (stop at 10 million executions or 1 h)
#
# On a shared machine run it as `nice -n 19 fuzz/run.sh …` (libFuzzer uses one core).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler. On stable Rust the
# sanitizer flags need RUSTC_BOOTSTRAP=1, which this script sets. New corpus entries go to a
# scratch directory (the committed seeds in fuzz/seeds/ stay as they are); libFuzzer's log is
# kept in fuzz/artifacts/<target>.log and a crash in fuzz/artifacts/<target>/ — copy the crash
# to fuzz/regressions/<target>/ so that `cargo test --test hostile_fuzz_corpus` replays it
# forever after the fix.
set -eu
cd "$(dirname "$0")"
secs=${1:-60}
runs=${RUNS:--1}
[ $# -gt 0 ] && shift
targets=${*:-"block_and_tx keva_script header_chain session ws_frames admin_command proxy_header block_files"}
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo fuzz build -O >/dev/null 2>&1 || cargo fuzz build -O
failed=0
for t in $targets; do
    mkdir -p "$scratch/$t" "regressions/$t" artifacts
    log="artifacts/$t.log"
    if cargo fuzz run -O "$t" "$scratch/$t" "seeds/$t" "regressions/$t" -- \
        -max_total_time="$secs" -runs="$runs" -max_len=1048576 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed=1
    fi
    done_line=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" || echo "? runs in $secs")
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || echo "?")
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || echo "?")
    corp=$(echo "$last" | grep -o 'corp: [^ ]*' | cut -d' ' -f2 || echo "?")
    took=$(echo "$done_line" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "?")
    echo "$t: $status, $execs runs in ${took}s, cov $cov ft $ft, corpus $corp (entries/bytes)," \
        "$(ls "$scratch/$t" | wc -l) new entries"
    if [ "$status" = CRASH ]; then
        grep -m1 -A20 'ERROR\|panicked' "$log" || tail -30 "$log"
    fi
done
exit $failed
