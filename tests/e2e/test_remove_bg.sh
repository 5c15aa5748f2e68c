#!/usr/bin/env bash
# End-to-end tests of background removal from the command line:
# `lunar-nova remove-bg` (the RGBA cut-out or the mask, as `rembg i` writes
# them), the modes of --remove-bg and --bg-model, rembg's folder, and the
# method named by `generate`. The network is the small U^2-Net-shaped
# fixture of tests/data/onnx.
set -u
bin=$1
synth=$(dirname "$bin")/ln-synth
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=${LN_TEST_TMP:-/tmp}/e2e_remove_bg
rm -rf "$tmp" && mkdir -p "$tmp"
. "$(dirname "$0")/lib.sh"
net=$src/tests/data/onnx/u2net-tiny-op11.onnx

# png_is FILE W H TYPE : the PNG header's size and colour type (6 RGBA, 0 grey).
png_is() {
    local f=$1 w h t
    w=$(od -An -tu1 -j16 -N4 "$f" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    h=$(od -An -tu1 -j20 -N4 "$f" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    t=$(od -An -tu1 -j25 -N1 "$f" | tr -d ' ')
    [ "$w" = "$2" ] && [ "$h" = "$3" ] && [ "$t" = "$4" ]
}

"$synth" photo "$tmp/photo.png" 200

expect_status 0 "remove-bg --help" "$bin" remove-bg --help
expect_status 0 "classical cut-out" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/cut.png" --remove-bg classic
png_is "$tmp/cut.png" 200 200 6 && ok "an RGBA PNG of the photo's size" || bad "an RGBA PNG of the photo's size"
grep -q "separated by classic" "$tmp/err.txt" && ok "the log names the classical separation" \
    || bad "the log names the classical separation: $(cat "$tmp/err.txt")"
expect_status 0 "--mask-only" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/mask.png" --mask-only
png_is "$tmp/mask.png" 200 200 0 && ok "the mask is a grey PNG" || bad "the mask is a grey PNG"

# No model in rembg's folder (lib.sh points U2NET_HOME nowhere).
expect_status 2 "--remove-bg model without a model" "$bin" remove-bg "$tmp/photo.png" \
    -o "$tmp/none.png" --remove-bg model
grep -q "models pull u2net" "$tmp/err.txt" && [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] \
    && ok "one line saying how to get one" || bad "one line saying how to get one: $(cat "$tmp/err.txt")"
[ -e "$tmp/none.png" ] && bad "no output after an error" || ok "no output after an error"
expect_status 2 "an unknown model name" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/x.png" --bg-model nosuch
grep -q "isnet-general-use" "$tmp/err.txt" && ok "the known names are listed" || bad "the known names are listed"
expect_status 2 "not a PNG output" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/x.jpg"

# A model given by path, then one in rembg's folder.
expect_status 0 "--bg-model PATH" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/net.png" --bg-model "$net"
grep -q "separated by u2net-tiny-op11.onnx" "$tmp/err.txt" && ok "the log names the network" \
    || bad "the log names the network: $(cat "$tmp/err.txt")"
head -c 5000 "$net" >"$tmp/cut-short.onnx"
expect_status 2 "a truncated model file" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/t.png" \
    --bg-model "$tmp/cut-short.onnx" --remove-bg model
[ "$(wc -l <"$tmp/err.txt")" -eq 1 ] && ok "one line for the damaged file ($(cut -c1-90 "$tmp/err.txt"))" \
    || bad "one line for the damaged file: $(cat "$tmp/err.txt")"
mkdir -p "$tmp/u2net" && cp "$net" "$tmp/u2net/u2net.onnx"
U2NET_HOME=$tmp/u2net expect_status 0 "auto finds rembg's u2net" "$bin" remove-bg "$tmp/photo.png" -o "$tmp/auto.png"
grep -q "separated by u2net" "$tmp/err.txt" && ok "auto used u2net" || bad "auto used u2net: $(cat "$tmp/err.txt")"

# generate says which method ran.
expect_status 0 "generate --remove-bg classic --json" "$bin" generate "$tmp/photo.png" -o "$tmp/m.glb" \
    --resolution 48 --engine sculpt --remove-bg classic --json --quiet
grep -q '"background":"classic"' "$tmp/out.txt" && ok "--json names the method" || bad "--json names the method: $(cat "$tmp/out.txt")"
U2NET_HOME=$tmp/u2net expect_status 0 "generate with rembg's model" "$bin" generate "$tmp/photo.png" \
    -o "$tmp/m2.glb" --resolution 48 --engine sculpt
grep -q "background: u2net" "$tmp/out.txt" && ok "the summary names u2net" || bad "the summary names u2net: $(cat "$tmp/out.txt")"
expect_status 2 "generate --remove-bg nonsense" "$bin" generate "$tmp/photo.png" -o "$tmp/x.glb" --remove-bg maybe
finish
