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
# and stderr passed on once it ends; a run that Wine ends with status 1
# before the program wrote anything is started again, at most twice, and
# said on the script's output before the next check (LN_WINE_RETRY in
# cmake/wine-run.sh; lib.sh's notes).
wine_run() { LN_WINE_RETRY=$tmp/notes.txt "$src/cmake/wine-run.sh" "$wine64" "$prefix" "$@"; }
