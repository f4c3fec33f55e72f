#!/usr/bin/env bash
# The test suite built for Windows (x86_64-pc-windows-gnu, MinGW) and run
# under Wine, as CI runs it: installs Wine and MinGW if missing, gives Wine
# the one DLL its Rust std needs (see .ci/wine/bcryptprimitives.c), then
# `cargo test` with Wine as the runner. Usage: .ci/wine.sh [cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wine >/dev/null 2>&1 || ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wine64 gcc-mingw-w64-x86-64
fi
rustup target list --installed | grep -q '^x86_64-pc-windows-gnu$' \
    || rustup target add x86_64-pc-windows-gnu

export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
prefix="${WINEPREFIX:-$HOME/.wine}"
if [ ! -d "$prefix/drive_c/windows/system32" ]; then
    wineboot -i >/dev/null 2>&1 || true
fi
dll="$prefix/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ]; then
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" \
        .ci/wine/bcryptprimitives.c .ci/wine/bcryptprimitives.def -ladvapi32
fi

export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
# The tests start examples (the crash-safety fixture among them), which
# they cannot build from under Wine: built here first, all features on.
cargo build --target x86_64-pc-windows-gnu --all-features --examples
cargo test --target x86_64-pc-windows-gnu "$@"
