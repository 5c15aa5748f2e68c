#!/usr/bin/env bash
# Runs the Windows build's lunar-nova.exe under Wine as if it were the
# Linux program, for a test that starts the program itself (the HTTP
# tests' BIN under make test-windows, tests/http/server.mjs):
#   LN_BIN=.../lunar-nova.exe LN_WINE64=.../wine64 windows_exe.sh ARGS...
# Arguments that are absolute paths of this machine are given as Windows
# paths (Z:\...); the program's output goes to files (Wine's own processes
# would hold a pipe open) and is copied to this script's stdout and stderr
# once it exits, with its exit status. The Wine prefix is the one beside
# the .exe (LN_WINE_PREFIX to choose another). A run that Wine ends with
# status 1 before the program wrote anything is started again, at most
# twice, each time said at the end of stderr (LN_WINE_RETRY in
# cmake/wine-run.sh).
set -u
exe=${LN_BIN:?LN_BIN names lunar-nova.exe}
prefix=${LN_WINE_PREFIX:-$(dirname "$exe")/wine-prefix}
out=$(mktemp -d "${TMPDIR:-/tmp}/ln-wine-exe.XXXXXX")
trap 'rm -rf "$out"' EXIT
args=()
for a in "$@"; do
    case $a in /*) a="Z:${a//\//\\}" ;; esac
    args+=("$a")
done
LN_WINE_RETRY=$out/retries "$(dirname "$0")/../../cmake/wine-run.sh" "${LN_WINE64:?LN_WINE64 names wine64}" "$prefix" \
    "$exe" "${args[@]}" >"$out/stdout" 2>"$out/stderr" </dev/null
rc=$?
tr -d '\r' <"$out/stdout"
tr -d '\r' <"$out/stderr" >&2
[ -s "$out/retries" ] && cat "$out/retries" >&2
exit $rc
