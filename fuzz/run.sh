#!/usr/bin/env bash
# Runs every fuzz target for SECONDS_PER_TARGET (default 60) with nightly
# and libFuzzer, one after the other, and prints each target's number of
# executions (libFuzzer's final stat::number_of_executed_units). Exits
# non-zero if any target crashed (a failed check, a panic, a hang past
# -timeout, out of memory); the input is left in fuzz/artifacts/<target>/.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET]
#
# Each target starts from fuzz/corpus/<target> (kept between local runs,
# ignored by git) and the inputs of fuzz/regressions/<target>.
#
# No sanitizer by default: the library's few `unsafe` blocks handle fds,
# which AddressSanitizer does not watch, and it costs the async target two
# thirds of its executions and ten times the memory. FUZZ_SANITIZER=address
# (or any `cargo fuzz --sanitizer` value) puts one back.
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")"
sanitizer="${FUZZ_SANITIZER:-none}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "run.sh needs a nightly toolchain and cargo-fuzz:" >&2
    echo "  rustup toolchain install nightly && cargo install cargo-fuzz" >&2
    exit 2
fi

targets=$(cargo +nightly fuzz list)
echo "==> building the fuzz targets (sanitizer: $sanitizer): ${targets//$'\n'/ }"
cargo +nightly fuzz build --sanitizer "$sanitizer"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
summary=()
for target in $targets; do
    echo "==> $target for ${seconds}s"
    mkdir -p "corpus/$target"
    log="$logs/$target.log"
    status=0
    # -timeout: one input running that long is a hang (the targets' own
    # waits give up after 10 s).
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -timeout=60 -print_final_stats=1 >"$log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
    line="$target: ${execs:-?} executions in ${seconds}s"
    if [ "$status" -ne 0 ]; then
        line="$line: FAILED (exit $status)"
        failed+=("$target")
        # What failed, and where the input is.
        grep -E -A 3 'panicked at|ERROR: libFuzzer' "$log" | head -n 20 || true
        grep -E 'Test unit written to|^Output of|^\s+(Input|\[)' "$log" | head -n 5 || true
        echo "full log: fuzz/artifacts/$target/run.log"
        mkdir -p "artifacts/$target"
        cp "$log" "artifacts/$target/run.log"
    fi
    echo "$line"
    summary+=("$line")
done

echo "==> summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/; replay in fuzz/ with cargo +nightly fuzz run <target> <input>)" >&2
    exit 1
fi
