#!/usr/bin/env bash
# compare.sh: the interleaved ratios of two builds of the `registry` bench,
# side by side, measured in one run.
#
# Usage:
#   benches/compare.sh [-n ROUNDS] [-c] [-o DIR] NEW_BINARY OLD_BINARY [ARG...]
#
#   NEW_BINARY, OLD_BINARY  two bench executables, e.g. the current
#                           target/release/deps/registry-<hash> (built by
#                           `cargo bench --bench registry --no-run`) and one
#                           built from an older commit in another target dir.
#   ARG...                  passed through to both, after `--bench`: a filter
#                           (`purge`, `temp_file`) and any other option.
#   -n ROUNDS               runs of each binary (default 3).
#   -c                      let criterion measure too. By default `--ignored`
#                           is passed, which makes criterion measure nothing
#                           (it rejects every benchmark), so each run does
#                           only the interleaved ratios that this script
#                           reads; the bench's filter still applies to them.
#   -o DIR                  keep every run's output in DIR (default: a
#                           temporary directory, removed at the end).
#
# The two binaries run alternately, ROUNDS times each, the new one first in
# odd rounds and the old one first in even rounds, so that drift in the
# machine's speed falls on both. From each run it takes the lines
#   ratio <name> = <value> (target <target>); ...
# and prints, for every ratio name that BOTH binaries print, the median of
# its values per binary and the relative difference (new - old) / old. Names
# printed by one binary only are listed after the table, not compared.
#
# Example:
#   bash benches/compare.sh target/release/deps/registry-0123abcd \
#       /work/target-before/release/deps/registry-4567ef01 temp_file
#
# Bash, with sort, join, sed and a POSIX awk.

set -eu

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

rounds=3
criterion=0
keep=
while getopts n:co:h opt; do
    case $opt in
        n) rounds=$OPTARG ;;
        c) criterion=1 ;;
        o) keep=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
case $rounds in
    '' | *[!0-9]* | 0) echo "compare.sh: -n wants a positive number" >&2; exit 2 ;;
esac
new=$1
old=$2
shift 2
for bin in "$new" "$old"; do
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        echo "compare.sh: not an executable file: $bin" >&2
        exit 2
    fi
done

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$keep
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/tempreg-compare.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
: >"$work/new.ratios"
: >"$work/old.ratios"

args=(--bench)
[ "$criterion" = 1 ] || args+=(--ignored)
args+=("$@")

# One run of one side: its output to a log, its ratios appended as lines
# `<name> <value> <target>` (the target without spaces).
run() {
    local side=$1 round=$2 bin log
    if [ "$side" = new ]; then bin=$new; else bin=$old; fi
    log="$work/$side.$round.log"
    echo "round $round/$rounds: $side: $bin ${args[*]}" >&2
    if ! "$bin" "${args[@]}" >"$log" 2>"$work/$side.$round.err"; then
        echo "compare.sh: $bin failed; see below" >&2
        tail -n 20 "$work/$side.$round.err" >&2
        exit 1
    fi
    sed -n -E 's/^ratio ([^ ]+) = ([0-9.]+)( \(target ([^)]*)\))?.*/\1 \2 \4/p' "$log" |
        awk '{ t = ""; for (i = 3; i <= NF; i++) t = t $i; print $1, $2, (t == "" ? "-" : t) }' \
            >>"$work/$side.ratios"
}

for ((round = 1; round <= rounds; round++)); do
    if ((round % 2 == 1)); then
        run new "$round"
        run old "$round"
    else
        run old "$round"
        run new "$round"
    fi
done

# Per name: the median of its values (the mean of the middle two for an even
# count), how many there were, and its target.
medians() {
    LC_ALL=C sort -k1,1 -k2,2g "$1" | awk '
        function flush() {
            if (n == 0) return
            m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            print name, m, n, target
        }
        $1 != name { flush(); name = $1; n = 0; target = $3 }
        { v[++n] = $2 }
        END { flush() }'
}
medians "$work/new.ratios" >"$work/new.medians"
medians "$work/old.ratios" >"$work/old.medians"

echo
echo "Ratios printed by both (median of $rounds run(s) each; lower is better for tempreg):"
LC_ALL=C join "$work/new.medians" "$work/old.medians" | awk '
    BEGIN {
        printf "%-36s %10s %10s %9s  %s\n", "ratio", "new", "old", "new/old-1", "target"
    }
    {
        # name, new median, new count, new target, old median, old count, old target
        diff = ($5 != 0) ? sprintf("%+8.1f%%", ($2 / $5 - 1) * 100) : "n/a"
        target = $4
        sub(/^<=/, "<= ", target)
        sub(/^>=/, ">= ", target)
        printf "%-36s %10.3f %10.3f %9s  %s\n", $1, $2, $5, diff, target
        shared++
    }
    END { if (!shared) print "(none)" }'

only_new=$(LC_ALL=C join -v 1 "$work/new.medians" "$work/old.medians" | awk '{ printf "%s ", $1 }')
only_old=$(LC_ALL=C join -v 2 "$work/new.medians" "$work/old.medians" | awk '{ printf "%s ", $1 }')
[ -z "$only_new" ] || echo "not compared, new only: $only_new"
[ -z "$only_old" ] || echo "not compared, old only: $only_old"
[ -z "$keep" ] || echo "outputs kept in $keep"
