#!/usr/bin/env bash
# End-to-end tests of the Windows build's `lunar-nova.exe generate` under
# Wine (make test-windows; not part of the Linux ctest, whose e2e scripts
# are tests/e2e/test_*.sh):
#   windows_cli.sh WIN_EXE LINUX_BIN
# WIN_EXE is build-win/lunar-nova.exe, LINUX_BIN the Linux build's
# lunar-nova (build/lunar-nova), whose ln-synth beside it writes the
# inputs. The .exe runs through cmake/wine-run.sh with the Wine prefix
# beside it (build-win/wine-prefix) and gets Windows paths (Wine shows
# this machine's / as drive Z:) or paths relative to its working folder.
# Sculpt results must be byte-identical to the Linux build's from the same
# inputs; GLBs go through the Khronos glTF-Validator as in test_cli.sh.
set -u
. "$(dirname "$0")/windows_lib.sh" e2e_windows_cli "$@"

# exe ARGS... : lunar-nova.exe under Wine, from the folder $tmp (wine_run:
# a start that Wine ends silently is tried again).
exe() { (cd "$tmp" && wine_run "$exe" "$@"); }

# same NAME A B : the Windows result A is byte-identical to the Linux one B.
same() {
    if cmp -s "$2" "$3"; then ok "$1: byte-identical to the Linux build's"; else
        bad "$1: differs from the Linux build's ($(stat -c %s "$2") vs $(stat -c %s "$3") bytes)"
    fi
}

for f in "$exe" "$linux" "$synth" "$wine64"; do
    [ -x "$f" ] || { echo "windows_cli.sh: $f is missing"; exit 1; }
done

# --- the program starts ---------------------------------------------------
expect_status 0 "--version" exe --version
grep -q "^lunar-nova [0-9]" "$tmp/out.txt" && ok "version line" || bad "version line"
expect_status 0 "generate --help" exe generate --help
grep -q -- "--engine" "$tmp/out.txt" && ok "help lists --engine" || bad "help lists --engine"
expect_status 2 "unknown command" exe frobnicate

# --- inputs (the Linux ln-synth) -------------------------------------------
"$synth" photo "$tmp/mug.png" 384 || { bad "ln-synth photo"; finish; }
"$synth" photo "$tmp/mug.jpg" 384 || { bad "ln-synth photo (JPEG)"; finish; }
"$synth" views "$tmp/box" 4 256 || { bad "ln-synth views"; finish; }
head -c 3000 "$tmp/mug.png" >"$tmp/truncated.png"
mkdir -p "$tmp/linux"
sculpt=(--engine sculpt --resolution 128)

# --- a PNG, every format, Windows paths -------------------------------------
for f in glb obj ply stl; do
    expect_status 0 "PNG to ${f^^} (Windows paths)" exe generate "$(winpath "$tmp/mug.png")" \
        -o "$(winpath "$tmp/mug.$f")" "${sculpt[@]}" --quiet
    [ -s "$tmp/mug.$f" ] && ok "$f written" || bad "$f written"
    "$linux" generate "$tmp/mug.png" -o "$tmp/linux/mug.$f" "${sculpt[@]}" --quiet \
        || bad "Linux build: PNG to ${f^^}"
    same "PNG to ${f^^}" "$tmp/mug.$f" "$tmp/linux/mug.$f"
done
validate "$tmp/mug.glb"
head -c 80 "$tmp/mug.stl" | grep -q '^solid' && bad "STL is binary" || ok "STL is binary"
head -3 "$tmp/mug.ply" | grep -q 'binary_little_endian' && ok "PLY is binary" || bad "PLY is binary"
grep -m1 '^v ' "$tmp/mug.obj" | awk 'NF==7{exit 0} {exit 1}' && ok "OBJ has vertex colours" \
    || bad "OBJ has vertex colours"

# --- a JPEG, relative paths ---------------------------------------------------
expect_status 0 "JPEG to GLB (relative paths)" exe generate mug.jpg -o mugjpg.glb \
    "${sculpt[@]}" --json
grep -q '"faces"' "$tmp/out.txt" && ok "--json statistics on stdout" \
    || bad "--json statistics on stdout"
"$linux" generate "$tmp/mug.jpg" -o "$tmp/linux/mugjpg.glb" "${sculpt[@]}" --quiet \
    || bad "Linux build: JPEG to GLB"
same "JPEG to GLB" "$tmp/mugjpg.glb" "$tmp/linux/mugjpg.glb"
validate "$tmp/mugjpg.glb"

# --- 4 views ------------------------------------------------------------------
expect_status 0 "4 views to GLB" exe generate box-0.png box-1.png box-2.png box-3.png \
    -o box.glb "${sculpt[@]}" --quiet
"$linux" generate "$tmp"/box-{0,1,2,3}.png -o "$tmp/linux/box.glb" "${sculpt[@]}" --quiet \
    || bad "Linux build: 4 views"
same "4 views to GLB" "$tmp/box.glb" "$tmp/linux/box.glb"
validate "$tmp/box.glb"

# --- --texture 512 --------------------------------------------------------------
expect_status 0 "--texture 512" exe generate mug.png -o mugtex.glb "${sculpt[@]}" \
    --texture 512 --quiet
"$linux" generate "$tmp/mug.png" -o "$tmp/linux/mugtex.glb" "${sculpt[@]}" --texture 512 \
    --quiet || bad "Linux build: --texture 512"
same "--texture 512" "$tmp/mugtex.glb" "$tmp/linux/mugtex.glb"
validate "$tmp/mugtex.glb"

# --- bad input: exit 2, one line, nothing written -------------------------------
expect_status 2 "truncated PNG" exe generate truncated.png -o bad.glb "${sculpt[@]}"
[ "$(tr -d '\r' <"$tmp/err.txt" | wc -l)" -eq 1 ] && ok "one-line reason for the truncated PNG" \
    || bad "one-line reason for the truncated PNG: $(cat "$tmp/err.txt")"
[ -e "$tmp/bad.glb" ] && bad "no output for the truncated PNG" \
    || ok "no output for the truncated PNG"
expect_status 2 "missing image" exe generate nope.png -o nope.glb
expect_status 2 "missing output folder" exe generate mug.png -o "$(winpath "$tmp/no/such/m.glb")"
ls "$tmp" | grep -q '\.tmp-' && bad "no temporary files left" || ok "no temporary files left"
finish
