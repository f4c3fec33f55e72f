#!/usr/bin/env bash
# tempfile 3.27.0's own test suite, run against `tempreg::compat`.
#
# The test files are taken from the crate as cargo downloads it (they are
# tempfile's code, never copied into this repository), and changed in one
# way only: `use tempreg::compat as tempfile;` is added at the top of each,
# so that every `tempfile::...` path, `use` lines included, names
# `tempreg::compat` (the one-line migration the compat module promises).
# The tests where tempreg deliberately differs are marked
# `#[ignore = "reason"]` from .ci/tempfile-differences.txt
# (`file::test_name: reason`). Prints the counts; fails if any other test
# fails, or if a listed test no longer exists.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
version=3.27.0
scratch=$repo/target/tempfile-compat
differences=$repo/.ci/tempfile-differences.txt

rm -rf "$scratch"
mkdir -p "$scratch/locate/src" "$scratch/suite/src" "$scratch/suite/tests"

# 1. Where cargo keeps tempfile's source: a throwaway crate that depends on
#    it exactly, fetched, and asked through `cargo metadata`.
cat >"$scratch/locate/Cargo.toml" <<EOF
[package]
name = "locate-tempfile"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tempfile = "=$version"

[workspace]
EOF
: >"$scratch/locate/src/lib.rs"
manifest=$(cd "$scratch/locate" && cargo metadata --format-version 1 |
    tr ',' '\n' |
    sed -n "s|^\"manifest_path\":\"\(.*/tempfile-$version/Cargo.toml\)\"\$|\1|p" |
    head -n 1)
if [ -z "$manifest" ] || [ ! -f "$manifest" ]; then
    echo "tempfile-tests: cannot find tempfile $version's sources" >&2
    exit 1
fi
source_dir=$(dirname "$manifest")
echo "tempfile $version's tests from $source_dir/tests"

# 2. A crate of their test files, depending on tempreg by path and on what
#    the tests use besides (`fastrand`, to seed the names).
cat >"$scratch/suite/Cargo.toml" <<EOF
[package]
name = "tempfile-suite"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tempreg = { path = "$repo" }
fastrand = "2"

[workspace]
EOF
: >"$scratch/suite/src/lib.rs"
# Tempreg's own lock, so the suite builds the versions CI already built.
cp "$repo/Cargo.lock" "$scratch/suite/Cargo.lock"
for test in "$source_dir"/tests/*.rs; do
    name=$(basename "$test")
    # After the file's inner attributes (`#![deny(...)]`), or first.
    if grep -q '^#!\[' "$test"; then
        sed '0,/^#!\[.*\]$/s//&\nuse tempreg::compat as tempfile;/' "$test" \
            >"$scratch/suite/tests/$name"
    else
        { echo 'use tempreg::compat as tempfile;'; cat "$test"; } >"$scratch/suite/tests/$name"
    fi
done

# 3. The deliberate differences, ignored with their reasons.
listed=0
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    target=${line%%:*}
    reason=${line#*: }
    file=${target%%::*}
    test=${line#*::}
    test=${test%%:*}
    path=$scratch/suite/tests/$file.rs
    if ! grep -q "^fn $test()" "$path" 2>/dev/null; then
        echo "tempfile-tests: $file::$test (listed in $differences) is not in tempfile $version" >&2
        exit 1
    fi
    # The reason as a Rust string literal (backslashes and quotes escaped).
    literal=$(printf '%s' "$reason" | sed 's/[\\"]/\\&/g')
    ATTR="#[ignore = \"tempreg differs: $literal\"]" TEST="fn $test()" \
        awk 'index($0, ENVIRON["TEST"]) == 1 { print ENVIRON["ATTR"] } { print }' \
        "$path" >"$path.new"
    mv "$path.new" "$path"
    listed=$((listed + 1))
done <"$differences"

# 4. Run them.
log=$scratch/test.log
status=0
(cd "$scratch/suite" && cargo test --tests --target-dir "$repo/target" 2>&1) | tee "$log" ||
    status=$?
# Summed over the five test binaries from libtest's own closing lines.
read -r passed failed ignored < <(awk '/^test result:/ {
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^passed;/) p += $(i - 1)
            if ($i ~ /^failed;/) f += $(i - 1)
            if ($i ~ /^ignored;/) g += $(i - 1)
        }
    } END { print p + 0, f + 0, g + 0 }' "$log")
echo
echo "tempfile $version's own tests against tempreg::compat ($listed deliberate differences listed in .ci/tempfile-differences.txt, ignored):"
echo "tempfile-tests: $passed passed, $failed failed, $ignored skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "tempfile-tests: FAILED" >&2
    exit 1
fi
