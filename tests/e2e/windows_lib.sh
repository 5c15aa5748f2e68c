# Shared by the Windows end-to-end scripts (windows_*.sh, run by make
# test-windows under Wine), sourced first with the scratch folder's name
# and the script's own two arguments:
#   . "$(dirname "$0")/windows_lib.sh" NAME WIN_EXE LINUX_BIN
# Sets exe (build-win/lunar-nova.exe), linux (the Linux build's
# lunar-nova), synth (ln-synth beside it), src, wine64, prefix (the Wine
# prefix beside the .exe) and tmp (a fresh scratch folder NAME), then
# sources lib.sh for the checks.
exe=$(realpath "$2")
linux=$(realpath "$3")
synth=$(dirname "$linux")/ln-synth
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
wine64=${LN_WINE64:-/usr/lib/wine/wine64}
prefix=$(dirname "$exe")/wine-prefix
tmp=${LN_TEST_TMP:-$(dirname "$exe")/tests/tmp}/$1
rm -rf "$tmp" && mkdir -p "$tmp"
tmp=$(realpath "$tmp")
. "$(dirname "$0")/lib.sh"

# winpath PATH : the Windows path Wine gives a path of this machine.
winpath() { printf 'Z:%s' "${1//\//\\}"; }

# wine_run PROGRAM ARGS... : PROGRAM under Wine in the prefix, its stdout
# and stderr passed on once it ends. Under Wine a start has failed, rarely,
# with status 1 before the program wrote anything (seen in runs of make
# test on two busy cores, as by the HTTP tests' server starts,
# tests/http/server.mjs; Wine's own messages are off, and the same start
# then succeeded): such a run is started again, at most twice, and said on
# the script's output. lunar-nova.exe writes a one-line reason with every
# failure, so a status 1 with nothing written is never its own answer;
# any other status, or a run that wrote anything, is the program's.
exec 3>&1
wine_run() {
    local n rc
    for n in 1 2 3; do
        "$src/cmake/wine-run.sh" "$wine64" "$prefix" "$@" >"$tmp/wine-run.out" 2>"$tmp/wine-run.err"
        rc=$?
        [ "$rc" -ne 1 ] || [ -s "$tmp/wine-run.out" ] || [ -s "$tmp/wine-run.err" ] && break
        [ "$n" -lt 3 ] || break
        echo "# $(basename "$1") under Wine exited with 1 before writing anything (start $n of 3); starting it again" >&3
    done
    cat "$tmp/wine-run.out"
    cat "$tmp/wine-run.err" >&2
    return "$rc"
}
