#!/usr/bin/env bash
# The HTTP tests (tests/http/*.test.mjs, unchanged) against the Windows
# build's `lunar-nova.exe serve` under Wine (make test-windows; not part
# of the Linux ctest):
#   windows_http.sh WIN_EXE LINUX_BIN
# tests/http/server.mjs starts each server through Wine when LN_WINE64 is
# set and LN_BIN is a .exe (docs/windows.md). Every file runs, except the
# crash loop of crash.test.mjs (SIGKILL at random moments for about five
# minutes): its first two tests, a kill while a job runs and a history
# rebuilt after a restart, run; the loop is reported as skipped. A test
# that cannot work under Wine skips itself with its reason. A waiting
# cmd.exe keeps the prefix's Wine processes up between the servers (each
# start is then about 0.3 s, not 3), and every process of the prefix is
# ended at the end. Exits 77 (skipped) without node.
set -u
. "$(dirname "$0")/windows_lib.sh" e2e_windows_http "$@"

command -v node >/dev/null || { skip "the HTTP tests under Wine (node missing)"; finish; }
"$src/cmake/wine-run.sh" "$wine64" "$prefix" cmd.exe /c "ping -n 900 127.0.0.1 >nul" \
    >/dev/null 2>&1 &
keep=$!
trap 'kill $keep 2>/dev/null; WINEPREFIX=$prefix "${wine64%/*}/wineserver" -k 2>/dev/null' EXIT

# The Windows server under Wine answers more slowly than the Linux build
# (every call through Wine's layer; a /health answer beside a running job
# took 554 ms once against the tests' 500): the tests' waits are doubled.
export LN_BIN=$exe LN_SYNTH=$synth LN_WINE64=$wine64 LN_WINE_PREFIX=$prefix LN_TEST_TMP=$tmp
export LN_TEST_SLOW=2
files=()
for f in "$src"/tests/http/*.test.mjs; do
    [ "$(basename "$f")" = crash.test.mjs ] || files+=("$f")
done
# A file's process ends once its tests are done, even if a failed one left
# a server running, where node takes the flag (see tests/CMakeLists.txt).
force=
node --test-force-exit -e 0 2>/dev/null && force=--test-force-exit
# Output to files, not pipes (the servers' Wine processes must not hold
# them); shown afterwards.
(cd "$src" && node --test $force "${files[@]}") >"$tmp/http.tap" 2>&1
rc=$?
grep -E '^not ok |# SKIP|^# (tests|pass|fail|skipped) ' "$tmp/http.tap"
[ $rc = 0 ] && ok "tests/http (all files but crash.test.mjs) under Wine" || {
    bad "tests/http under Wine (exit $rc; the whole report: $tmp/http.tap)"
    grep -A20 '^not ok' "$tmp/http.tap" | head -60
}
(cd "$src" && node --test $force --test-name-pattern='^a (job running at a SIGKILL|history replaced)' \
    tests/http/crash.test.mjs) >"$tmp/crash.tap" 2>&1
rc=$?
grep -E '^(not )?ok ' "$tmp/crash.tap"
echo "    (the random-kill loop runs in the Linux suites only: about five minutes)"
[ $rc = 0 ] && ok "crash.test.mjs: a kill while a job runs, a history rebuilt" || {
    bad "crash.test.mjs under Wine (exit $rc; the whole report: $tmp/crash.tap)"
    grep -A20 '^not ok' "$tmp/crash.tap" | head -40
}
finish
