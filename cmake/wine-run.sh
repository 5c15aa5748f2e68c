#!/bin/sh
# Runs a cross-built Windows program under Wine, for ctest in a Windows
# build folder (the CMAKE_CROSSCOMPILING_EMULATOR of
# cmake/x86_64-w64-mingw32.cmake, as qemu-user is for the arm64 build):
#   wine-run.sh WINE64 PREFIX program.exe [args...]
# PREFIX is a Wine prefix of the build folder's own (made by the first
# run, about 7 s; never the user's ~/.wine), Wine's own messages are off
# (LN_WINEDEBUG, when set, is WINEDEBUG instead: tests/e2e/
# windows_service.sh reads the event log entries from Wine's trace), and
# wineserver (started by the first program) ends a few seconds after the
# last one.
#
# LN_WINE_RETRY=FILE: the program's output is held until it ends, and a
# run that ends with status 1 before the program wrote anything is started
# again, at most twice, each time said in FILE (/dev/stderr, or a file
# the caller reads). Under Wine a start has ended so, rarely, on two busy
# cores (a unit test, a generate, a server start; the same start then
# succeeded); our programs write a line with every failure, so a status 1
# with nothing written is Wine's, not the program's answer. Not for
# servers, whose output is read while they run (tests/http/server.mjs and
# tests/e2e/windows_serve.sh retry their starts themselves).
set -eu
wine=$1
prefix=$2
shift 2
mkdir -p "$prefix"
export WINEPREFIX="$prefix" WINEDEBUG="${LN_WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml="
[ -n "${LN_WINE_RETRY:-}" ] || exec "$wine" "$@"
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
n=1
while :; do
    rc=0
    "$wine" "$@" >"$out" 2>"$err" || rc=$?
    { [ "$rc" -ne 1 ] || [ -s "$out" ] || [ -s "$err" ] || [ "$n" -ge 3 ]; } && break
    echo "# $(basename "$1") under Wine exited with 1 before writing anything (start $n of 3); starting it again" >>"$LN_WINE_RETRY"
    n=$((n + 1))
done
cat "$out"
cat "$err" >&2
exit "$rc"
