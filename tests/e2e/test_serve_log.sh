#!/usr/bin/env bash
# End-to-end tests of `lunar-nova serve --log-file` (and LUNAR_NOVA_LOG_FILE):
# every line the server logs on stderr is also appended to the file, in
# the same order and words; a second start appends after the first one's
# lines; a file that cannot be opened is refused at start with one line
# on stderr and exit status 2, before anything is made.
set -u
bin=$1
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=${LN_TEST_TMP:-/tmp}/e2e_serve_log
rm -rf "$tmp" && mkdir -p "$tmp"
. "$(dirname "$0")/lib.sh"

# run N [env...] -- serve options... : serve on a free port until it
# listens, then SIGTERM; stderr in err-N.txt, the exit status in $rc.
run() {
    local n=$1
    shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin" serve --port 0 --engine sculpt --outputs "$tmp/outputs" "$@" \
        2>"$tmp/err-$n.txt" >/dev/null &
    local pid=$!
    wait_listening "$tmp/err-$n.txt" $pid 100
    kill -TERM $pid 2>/dev/null
    wait $pid
    rc=$?
}

log="$tmp/journal été.log"
run 1 -- --log-file "$log"
[ $rc = 0 ] && ok "serve --log-file starts and stops" || bad "serve --log-file (exit $rc)"
cmp -s "$tmp/err-1.txt" "$log" && ok "the file has every line of stderr" \
    || { bad "the file has every line of stderr"; diff "$tmp/err-1.txt" "$log" | head -5; }
grep -q "info  Lunar Nova .* starting" "$log" && grep -q "info  Listening on http://" "$log" &&
    grep -q "info  SIGTERM received" "$log" && [ "$(tail -1 "$log" | cut -d' ' -f2-)" = "info  stopped" ] &&
    ok "start, listening and stop lines" || bad "start, listening and stop lines"

run 2 LUNAR_NOVA_LOG_FILE="$log" -- --log-format json
[ $rc = 0 ] && ok "LUNAR_NOVA_LOG_FILE" || bad "LUNAR_NOVA_LOG_FILE (exit $rc)"
n1=$(wc -l <"$tmp/err-1.txt")
n2=$(wc -l <"$tmp/err-2.txt")
[ "$(wc -l <"$log")" -eq $((n1 + n2)) ] && head -n "$n1" "$log" | cmp -s - "$tmp/err-1.txt" &&
    tail -n "$n2" "$log" | cmp -s - "$tmp/err-2.txt" &&
    ok "a second start appends ($n1 + $n2 lines)" || bad "a second start appends"

# refused: one line, exit 2, nothing made
rm -rf "$tmp/outputs"
expect_status 2 "--log-file in a missing folder is refused" "$bin" serve --port 0 \
    --outputs "$tmp/outputs" --log-file "$tmp/no-such-folder/x.log"
[ "$(wc -l <"$tmp/err.txt")" = 1 ] && grep -q "^lunar-nova: --log-file: cannot open .*x.log" "$tmp/err.txt" &&
    ok "... with one line naming the flag and the file" || { bad "... with one line"; cat "$tmp/err.txt"; }
[ ! -e "$tmp/outputs" ] && ok "... and nothing made" || bad "... and nothing made"
expect_status 2 "a folder as the log file is refused" "$bin" serve --port 0 \
    --outputs "$tmp/outputs" --log-file "$tmp"
LUNAR_NOVA_LOG_FILE=$tmp/no-such-folder/y.log expect_status 2 "LUNAR_NOVA_LOG_FILE refused" \
    "$bin" serve --port 0 --outputs "$tmp/outputs"
grep -q "^lunar-nova: LUNAR_NOVA_LOG_FILE: cannot open" "$tmp/err.txt" \
    && ok "... naming the variable" || bad "... naming the variable: $(cat "$tmp/err.txt")"
expect_status 2 "an empty --log-file is refused" "$bin" serve --port 0 --outputs "$tmp/outputs" \
    --log-file ""
finish
