#!/usr/bin/env bash
# End-to-end tests of --device (docs/vulkan.md): generate on the tiny
# golden TripoSR model with --device cpu and --device vulkan:0 (Mesa's
# lavapipe, which ctest names in VK_ICD_FILENAMES) gives the same density
# grid within 1e-4 relative and the golden one; auto never takes lavapipe
# (a CPU device) and says why in one log line; with no usable driver auto
# runs on the CPU with one line and a named device is refused (exit 2,
# one line); bad text is a usage error; serve --device reports the device
# in /health; remove-bg --device vulkan:0 gives the CPU's mask, all of the
# network on the GPU. Skipped (exit 77) only when no Vulkan driver is present.
set -u
bin=$1
src=${LN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=${LN_TEST_TMP:-/tmp}/gpu_device_cli
rm -rf "$tmp" && mkdir -p "$tmp"
. "$src/tests/e2e/lib.sh"
golden=$src/tests/data/triposr-tiny
input=$golden/input.png
export HF_HOME=$golden/hf_home

if ! command -v vulkaninfo >/dev/null || ! vulkaninfo --summary >/dev/null 2>&1; then
    echo "no Vulkan driver here (vulkaninfo: vulkan-tools, mesa-vulkan-drivers): skipping"
    exit 77
fi

gen() { # gen NAME DEVICE : the 32^3 density of the golden input on DEVICE
    "$bin" generate "$input" -o "$tmp/$1.glb" --engine triposr --model golden/triposr-tiny \
        --resolution 32 --save-density "$tmp/$1.npy" --device "$2"
}

expect_status 0 "generate --device cpu" gen cpu cpu
# generate's stderr is the user's (an error there is one line): staying on
# the CPU is not announced, a GPU is; serve logs both (below).
grep -q "^device: " "$tmp/err.txt" && bad "... says nothing of the CPU: $(grep "^device" "$tmp/err.txt")" \
    || ok "... says nothing of the CPU"
expect_status 0 "generate --device vulkan:0" gen vk vulkan:0
grep -q "^device: vulkan:0 (.*(asked for)$" "$tmp/err.txt" && ok "... logs the Vulkan device" \
    || bad "... logs the Vulkan device: $(head -3 "$tmp/err.txt")"
[ "$(grep -c "^device: " "$tmp/err.txt")" = 1 ] && ok "... in one line" || bad "... in one line"
grep -q "vulkan validation" "$tmp/err.txt" && bad "validation messages: $(grep -m3 "vulkan validation" "$tmp/err.txt")" \
    || ok "no validation message (layers: ${VK_INSTANCE_LAYERS:-none})"

# npy_close A B FLOOR: worst |a-b| / max(|b|, FLOOR * max|b|) of two .npy
# (or .npy against a raw float32 .bin) <= 1e-4.
npy_close() {
    command -v node >/dev/null || { skip "$1 against $2 (node not found)"; return; }
    local res
    res=$(node -e '
        const fs = require("fs");
        const load = (f) => { const b = fs.readFileSync(f);
            const off = f.endsWith(".npy") ? 10 + b.readUInt16LE(8) : 0;
            return new Float32Array(b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length)); };
        const got = load(process.argv[1]), want = load(process.argv[2]);
        if (got.length !== want.length) { console.log("length " + got.length + " vs " + want.length); process.exit(1); }
        let scale = 0; for (const v of want) scale = Math.max(scale, Math.abs(v));
        const fl = Math.max(Number(process.argv[3]) * scale, 1e-30);
        let worst = 0; for (let i = 0; i < got.length; i++)
            worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), fl));
        console.log(worst); process.exit(worst <= 1e-4 ? 0 : 1);' "$1" "$2" "$3")
    if [ $? = 0 ]; then ok "$(basename "$1") vs $(basename "$2"): worst relative error $res"
    else bad "$(basename "$1") vs $(basename "$2"): worst relative error $res"; fi
}
npy_close "$tmp/vk.npy" "$tmp/cpu.npy" 0
npy_close "$tmp/vk.npy" "$golden/grid_density_act.bin" 0

# auto: lavapipe is a CPU device, never taken unasked.
expect_status 0 "generate --device auto" gen auto auto
npy_close "$tmp/auto.npy" "$tmp/cpu.npy" 0
grep -q "^device: " "$tmp/err.txt" && bad "... stays on the CPU: $(grep "^device" "$tmp/err.txt")" \
    || ok "... stays on the CPU"
serve_log() { # serve_log NAME [env...] -- options : serve until it listens; log in $tmp/NAME.txt
    local name=$1
    shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$bin" serve --port 0 --engine sculpt --outputs "$tmp/outputs" "$@" \
        2>"$tmp/$name.txt" >/dev/null &
    local pid=$!
    wait_listening "$tmp/$name.txt" $pid
    kill -TERM $pid 2>/dev/null
    wait $pid
}
serve_log auto --
[ "$(grep -c "device: " "$tmp/auto.txt")" = 1 ] &&
    grep -q "info  device: cpu (auto: no discrete GPU with 3072 MiB among [0-9]* Vulkan device(s)" "$tmp/auto.txt" &&
    ok "serve: auto stays on the CPU and says why, one line" \
    || bad "serve: auto stays on the CPU and says why: $(grep device "$tmp/auto.txt")"

# No usable driver (a manifest that does not exist).
serve_log nodriver VK_ICD_FILENAMES=/nonexistent/icd.json --
[ "$(grep -c "device: " "$tmp/nodriver.txt")" = 1 ] &&
    grep -q "info  device: cpu (auto: the Vulkan loader found no usable driver" "$tmp/nodriver.txt" &&
    grep -q "Listening on" "$tmp/nodriver.txt" && ok "serve without a driver runs on the CPU, one line" \
    || bad "serve without a driver: $(grep device "$tmp/nodriver.txt")"
expect_status 0 "generate without a driver" env VK_ICD_FILENAMES=/nonexistent/icd.json \
    "$bin" generate "$input" -o "$tmp/n.glb" --engine sculpt --resolution 48
expect_status 2 "vulkan:0 without a driver is refused" env VK_ICD_FILENAMES=/nonexistent/icd.json \
    "$bin" generate "$input" -o "$tmp/n2.glb" --engine sculpt --device vulkan:0
[ "$(wc -l <"$tmp/err.txt")" = 1 ] && grep -q "^lunar-nova: --device: vulkan:0: " "$tmp/err.txt" \
    && ok "... in one line ($(cut -c1-90 "$tmp/err.txt"))" || bad "... in one line: $(cat "$tmp/err.txt")"
[ ! -e "$tmp/n2.glb" ] && ok "... and nothing written" || bad "... and nothing written"
expect_status 2 "a device that is not there" "$bin" generate "$input" -o "$tmp/n3.glb" --device vulkan:9
grep -q "vulkan:9: 0: " "$tmp/err.txt" && ok "... lists the devices there are" || bad "... lists: $(cat "$tmp/err.txt")"
expect_status 2 "--device gpu is a usage error" "$bin" generate "$input" -o "$tmp/n4.glb" --device gpu
grep -q "cpu, auto, vulkan or vulkan:N" "$tmp/err.txt" && ok "... naming the forms" || bad "... naming the forms"

# serve: /health says which device computes.
health() { # health DEVICE : starts serve, GETs /health into $tmp/health.json
    "$bin" serve --port 0 --engine sculpt --outputs "$tmp/outputs" --device "$1" \
        2>"$tmp/serve.txt" >/dev/null &
    local pid=$!
    : >"$tmp/health.json"
    wait_listening "$tmp/serve.txt" $pid && node -e 'fetch(process.argv[1]).then(r => r.text()).then(t => process.stdout.write(t))' \
        "$url/health" >"$tmp/health.json" 2>/dev/null
    kill -TERM $pid 2>/dev/null
    wait $pid
}
if command -v node >/dev/null; then
    health vulkan:0
    grep -q '"device": *"vulkan:0 (' "$tmp/health.json" && ok "/health names vulkan:0" \
        || bad "/health names vulkan:0: $(cut -c1-300 "$tmp/health.json") $(tail -3 "$tmp/serve.txt")"
    health cpu
    grep -q '"device": *"cpu"' "$tmp/health.json" && ok "/health says cpu" \
        || bad "/health says cpu: $(cut -c1-300 "$tmp/health.json")"
else
    skip "/health (node not found)"
fi

# Out of device memory (a budget of 64 KiB: the network stage, the first
# on the GPU, does not fit): generate fails with one clear
# line and writes nothing; a server's job fails with that line as its
# error and the server stays up.
rm -f "$tmp/oom.glb"
expect_status 1 "generate past the GPU memory budget fails" env LN_GPU_MEMORY_LIMIT=65536 \
    "$bin" generate "$input" -o "$tmp/oom.glb" --engine triposr --model golden/triposr-tiny \
    --resolution 32 --device vulkan:0
[ "$(grep -c "^lunar-nova: " "$tmp/err.txt")" = 1 ] &&
    grep -q "^lunar-nova: .*GPU memory: the TripoSR image encoder and backbone (.*) needs .* of 64 KiB in use on vulkan:0" "$tmp/err.txt" &&
    ok "... with one line ($(grep "^lunar-nova: " "$tmp/err.txt" | cut -c1-110))" \
    || bad "... with one line: $(cat "$tmp/err.txt")"
[ ! -e "$tmp/oom.glb" ] && ok "... and writes nothing" || bad "... and writes nothing"
if command -v node >/dev/null; then
    LN_GPU_MEMORY_LIMIT=65536 "$bin" serve --port 0 --engine triposr --model golden/triposr-tiny \
        --outputs "$tmp/oom-outputs" --device vulkan:0 2>"$tmp/oom-serve.txt" >/dev/null &
    pid=$!
    wait_listening "$tmp/oom-serve.txt" $pid
    node -e '
        const fs = require("fs");
        const [url, image] = process.argv.slice(1);
        (async () => {
            const fd = new FormData();
            fd.append("image", new Blob([fs.readFileSync(image)], { type: "image/png" }), "input.png");
            fd.append("resolution", "32");
            const job = await (await fetch(url + "/generate", { method: "POST", body: fd })).json();
            let rec;
            for (let i = 0; i < 300; i++) {
                rec = await (await fetch(url + "/jobs/" + job.id)).json();
                if (["succeeded", "failed", "canceled"].includes(rec.status)) break;
                await new Promise((r) => setTimeout(r, 100));
            }
            const h = await fetch(url + "/health");
            console.log(JSON.stringify({ status: rec.status, error: rec.error, health: h.status }));
        })().catch((e) => { console.log("error " + e); process.exit(1); });' \
        "$url" "$input" >"$tmp/oom-job.json" 2>&1
    kill -0 $pid 2>/dev/null && alive=1 || alive=0
    kill -TERM $pid 2>/dev/null
    wait $pid
    grep -q '"status":"failed"' "$tmp/oom-job.json" && grep -q 'GPU memory: the TripoSR image encoder and backbone (.*) needs' "$tmp/oom-job.json" &&
        ok "serve: the job fails with the GPU memory line" || bad "serve: the job: $(cat "$tmp/oom-job.json") $(tail -3 "$tmp/oom-serve.txt")"
    [ $alive = 1 ] && grep -q '"health":200' "$tmp/oom-job.json" && ok "... and the server stays up" \
        || bad "... and the server stays up"
else
    skip "serve out of GPU memory (node not found)"
fi
# remove-bg --device: the matting network (the U^2-Net-shaped fixture) on
# vulkan:0 gives the CPU's mask, wholly on the GPU, and the log says where.
synth=$(dirname "$bin")/ln-synth
net=$src/tests/data/onnx/u2net-tiny-op17.onnx
"$synth" photo "$tmp/photo.png" 160
cut() { # cut NAME DEVICE : the mask of the photo by the fixture network on DEVICE
    "$bin" remove-bg "$tmp/photo.png" -o "$tmp/$1.png" --mask-only --remove-bg model \
        --bg-model "$net" --device "$2"
}
expect_status 0 "remove-bg --device cpu" cut mask-cpu cpu
grep -q "separated by u2net-tiny-op17.onnx$" "$tmp/err.txt" && ok "... says the network, no device" \
    || bad "... says the network, no device: $(cat "$tmp/err.txt")"
expect_status 0 "remove-bg --device vulkan:0" cut mask-vk vulkan:0
grep -q "separated by u2net-tiny-op17.onnx on vulkan:0 (" "$tmp/err.txt" && ok "... says the device" \
    || bad "... says the device: $(cat "$tmp/err.txt")"
grep -qi "on the CPU" "$tmp/err.txt" && bad "... no part on the CPU: $(grep -i "on the CPU" "$tmp/err.txt")" \
    || ok "... no part on the CPU"
grep -q "vulkan validation" "$tmp/err.txt" && bad "... validation: $(grep -m3 "vulkan validation" "$tmp/err.txt")" \
    || ok "... no validation message"
# The masks are 8-bit: a float difference of 1e-5 may round a sample the
# other way, never by more than one level.
d=$("$synth" diff "$tmp/mask-cpu.png" "$tmp/mask-vk.png")
case "$d" in
"max 0,"* | "max 1,"*) ok "the GPU's mask is the CPU's within one level ($d)" ;;
*) bad "the GPU's mask is the CPU's within one level: $d" ;;
esac
expect_status 2 "remove-bg --device gpu is a usage error" "$bin" remove-bg "$tmp/photo.png" \
    -o "$tmp/x.png" --device gpu
expect_status 2 "remove-bg vulkan:0 without a driver is refused" env VK_ICD_FILENAMES=/nonexistent/icd.json \
    "$bin" remove-bg "$tmp/photo.png" -o "$tmp/x.png" --device vulkan:0
[ ! -e "$tmp/x.png" ] && ok "... and nothing written" || bad "... and nothing written"
finish
