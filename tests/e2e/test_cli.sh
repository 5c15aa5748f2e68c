#!/usr/bin/env bash
# End-to-end tests of `lunar-nova generate`: real files in, real files out,
# exit statuses and messages as a user or a script sees them. The inputs come
# from ln-synth (built beside lunar-nova), the GLBs are checked with the
# Khronos glTF-Validator, statistics are read from --json.
set -u
bin=$1
synth=$(dirname "$bin")/ln-synth
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=${LN_TEST_TMP:-/tmp}/e2e_cli
rm -rf "$tmp" && mkdir -p "$tmp"
. "$(dirname "$0")/lib.sh"

# json_get FILE EXPR : evaluates a JS expression on the parsed JSON `j`.
json_get() {
    node -e "const j=JSON.parse(require('fs').readFileSync('$1','utf8')); console.log($2)"
}


# --- help, version, usage -------------------------------------------------
expect_status 0 "--help" "$bin" --help
expect_status 0 "--version" "$bin" --version
grep -q "^lunar-nova [0-9]" "$tmp/out.txt" && ok "version line" || bad "version line"
# OPENBLAS_CORETYPE naming Opteron, whose kernels use 3DNow!: a warning
# exactly where /proc/cpuinfo lacks the flag.
if [ "$(uname -m)" = x86_64 ]; then
    OPENBLAS_CORETYPE=Opteron "$bin" --version >"$tmp/out.txt" 2>&1
    grep -q "^OpenBLAS: Opteron kernels" "$tmp/out.txt" && ok "version names OpenBLAS's kernels" \
        || bad "version names OpenBLAS's kernels"
    warned=no
    grep -q "^warning: .*need 3DNow!: this CPU lacks it" "$tmp/out.txt" && warned=yes
    want=yes
    grep -m1 '^flags' /proc/cpuinfo | grep -qw 3dnow && want=no
    [ $warned = $want ] && ok "version warns of OpenBLAS kernels this CPU cannot run" \
        || bad "version warns of OpenBLAS kernels this CPU cannot run (warned $warned, want $want)"
fi
expect_status 0 "generate --help" "$bin" generate --help
grep -q -- "--foreground-ratio" "$tmp/out.txt" && ok "help lists options" || bad "help lists options"
expect_status 2 "no command" "$bin"
expect_status 2 "unknown command" "$bin" frobnicate
expect_status 2 "generate without input" "$bin" generate -o "$tmp/x.glb"

# --- inputs ---------------------------------------------------------------
"$synth" photo "$tmp/mug.png" 384 || { bad "ln-synth photo"; exit 1; }
"$synth" views "$tmp/box" 4 256 || { bad "ln-synth views"; exit 1; }
"$synth" text "$tmp/notes.png"
: >"$tmp/empty.png"
head -c 3000 "$tmp/mug.png" >"$tmp/truncated.png"

# --- one image, every format ----------------------------------------------
expect_status 0 "single image to GLB" "$bin" generate "$tmp/mug.png" -o "$tmp/mug.glb" \
    --resolution 128 --json
cp "$tmp/out.txt" "$tmp/mug.json"
[ -s "$tmp/mug.glb" ] && ok "GLB written" || bad "GLB written"
[ "$(json_get "$tmp/mug.json" 'j.watertight')" = true ] && ok "single image: watertight" \
    || bad "single image: watertight"
[ "$(json_get "$tmp/mug.json" 'j.components')" = 1 ] && ok "single image: one part" \
    || bad "single image: one part"
ext=$(json_get "$tmp/mug.json" 'Math.max(...j.bbox_max.map((v,i)=>v-j.bbox_min[i])).toFixed(3)')
[ "$ext" = "1.000" ] && ok "largest extent is 1 m" || bad "largest extent is 1 m (got $ext)"
validate "$tmp/mug.glb"
grep -q $'\033' "$tmp/err.txt" && bad "no progress bar when piped" || ok "no progress bar when piped"
for f in obj ply stl; do
    expect_status 0 "single image to ${f^^}" "$bin" generate "$tmp/mug.png" -o "$tmp/mug.$f" \
        --resolution 96 --quiet
    [ -s "$tmp/mug.$f" ] && ok "$f written" || bad "$f written"
done
head -c 80 "$tmp/mug.stl" | grep -q '^solid' && bad "STL is binary" || ok "STL is binary"
head -3 "$tmp/mug.ply" | grep -q 'binary_little_endian' && ok "PLY is binary" || bad "PLY is binary"
grep -m1 '^v ' "$tmp/mug.obj" | awk 'NF==7{exit 0} {exit 1}' && ok "OBJ has vertex colours" \
    || bad "OBJ has vertex colours"

# --texture: a baked colour texture in the GLB, PNG or JPEG
expect_status 0 "--texture 512" "$bin" generate "$tmp/mug.png" -o "$tmp/mugtex.glb" \
    --resolution 128 --texture 512 --json
cp "$tmp/out.txt" "$tmp/mugtex.json"
[ "$(json_get "$tmp/mugtex.json" 'j.texture.size + j.texture.format')" = 512png ] \
    && ok "--json names the texture" || bad "--json names the texture"
[ "$(json_get "$tmp/mugtex.json" 'j.watertight')" = true ] && ok "textured: still watertight" \
    || bad "textured: still watertight (seams are not borders)"
node -e "
const b=require('fs').readFileSync('$tmp/mugtex.glb'); const n=b.readUInt32LE(12);
const j=JSON.parse(b.subarray(20,20+n)); const p=j.meshes[0].primitives[0];
process.exit(p.attributes.TEXCOORD_0!==undefined && j.images[0].mimeType==='image/png' &&
  j.materials[p.material].pbrMetallicRoughness.baseColorTexture ? 0 : 1)" \
    && ok "GLB has TEXCOORD_0 and an embedded PNG" || bad "GLB has TEXCOORD_0 and an embedded PNG"
validate "$tmp/mugtex.glb"
expect_status 0 "--texture 256 --texture-format jpeg" "$bin" generate "$tmp/mug.png" \
    -o "$tmp/mugjpg.glb" --resolution 96 --texture 256 --texture-format jpeg --quiet
validate "$tmp/mugjpg.glb"
expect_status 2 "--texture 32 is refused" "$bin" generate "$tmp/mug.png" -o "$tmp/x.glb" \
    --texture 32
grep -q "64 to 8192" "$tmp/err.txt" && ok "--texture range in the message" \
    || bad "--texture range in the message"

# --size and --origin
expect_status 0 "--size 2 --origin bottom" "$bin" generate "$tmp/mug.png" -o "$tmp/mug2.glb" \
    --resolution 96 --size 2 --origin bottom --faces 5000 --json
cp "$tmp/out.txt" "$tmp/mug2.json"
[ "$(json_get "$tmp/mug2.json" 'Math.abs(j.bbox_min[1]).toFixed(4)')" = 0.0000 ] \
    && ok "bottom origin stands on y=0" || bad "bottom origin stands on y=0"
ext=$(json_get "$tmp/mug2.json" 'Math.max(...j.bbox_max.map((v,i)=>v-j.bbox_min[i])).toFixed(3)')
[ "$ext" = "2.000" ] && ok "--size 2" || bad "--size 2 (got $ext)"
[ "$(json_get "$tmp/mug2.json" 'j.faces <= 5000')" = true ] && ok "--faces 5000" \
    || bad "--faces 5000"
validate "$tmp/mug2.glb"

# --- several views ----------------------------------------------------------
expect_status 0 "4 views to GLB" "$bin" generate "$tmp"/box-{0,1,2,3}.png -o "$tmp/box.glb" \
    --resolution 128 --json
cp "$tmp/out.txt" "$tmp/box.json"
# The box is 0.7 x 0.5 x 0.4: after scaling to extent 1, 1 x 0.714 x 0.571.
dims=$(json_get "$tmp/box.json" 'j.bbox_max.map((v,i)=>(v-j.bbox_min[i]).toFixed(2)).join(" ")')
read -r dx dy dz <<<"$dims"
awk -v x="$dx" -v y="$dy" -v z="$dz" 'BEGIN{exit !(x>0.97 && x<1.03 && y>0.68 && y<0.75 && z>0.54 && z<0.61)}' \
    && ok "visual hull of a box has the box's proportions ($dims)" \
    || bad "visual hull of a box has the box's proportions (got $dims)"
validate "$tmp/box.glb"
expect_status 0 "explicit views" "$bin" generate "$tmp"/box-{0,1,2,3}.png -o "$tmp/box2.ply" \
    --view 0 --view 90,0 --view 180 --view 270,0 --resolution 64 --quiet
expect_status 2 "view count mismatch" "$bin" generate "$tmp"/box-{0,1}.png -o "$tmp/v.glb" --view 0

# --- bad input: exit 2, one line, nothing written ---------------------------
for f in notes empty truncated; do
    expect_status 2 "bad image: $f" "$bin" generate "$tmp/$f.png" -o "$tmp/bad-$f.glb"
    [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] && ok "one-line reason for $f" \
        || bad "one-line reason for $f: $(cat "$tmp/err.txt")"
    [ -e "$tmp/bad-$f.glb" ] && bad "no output for $f" || ok "no output for $f"
done
expect_status 2 "missing image" "$bin" generate "$tmp/nope.png" -o "$tmp/nope.glb"
expect_status 2 "unknown output format" "$bin" generate "$tmp/mug.png" -o "$tmp/mug.xyz"
expect_status 2 "missing output folder" "$bin" generate "$tmp/mug.png" -o "$tmp/no/such/m.glb"
expect_status 2 "bad resolution" "$bin" generate "$tmp/mug.png" -o "$tmp/r.glb" --resolution 5
expect_status 2 "bad view" "$bin" generate "$tmp/mug.png" -o "$tmp/r.glb" --view 0,100
expect_status 2 "unknown engine" "$bin" generate "$tmp/mug.png" -o "$tmp/r.glb" --engine magic
"$synth" blank "$tmp/blank.png" 256
expect_status 2 "an image with no object is refused" "$bin" generate "$tmp/blank.png" \
    -o "$tmp/blank.glb" --quiet
grep -qi "no object" "$tmp/err.txt" && ok "says there is no object" \
    || bad "says there is no object: $(cat "$tmp/err.txt")"
finish
