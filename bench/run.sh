#!/usr/bin/env bash
# make bench: the generation benchmarks of bench/README.md, one process per
# configuration. Prints the machine first so figures can be quoted with it.
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/bench/bench-generate
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "threads: ${LN_THREADS:-all cores}"
echo
for res in 128 256; do
    $b single 1024 "$res" 3
    $b views 1024 "$res" 4 3 | tee /tmp/lunar-nova-bench-views-$res.txt
done
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import numpy" 2>/dev/null; then
    echo
    echo "reference: straightforward NumPy visual hull, same 4 views, grid 256"
    ref=$(/usr/bin/python3 bench/reference/visual_hull_numpy.py 1024 256)
    echo "$ref"
    # Same work on our side: carving the field (which also meshes at sub-voxel
    # precision afterwards) versus the NumPy boolean carving.
    ours=$(awk '$1 == "carving" {print $2}' /tmp/lunar-nova-bench-views-256.txt)
    theirs=$(echo "$ref" | awk '{print $4}')
    awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "  carving: lunar-nova %.3f s vs NumPy %.3f s: %.0fx faster\n", a, b, b / a}'
else
    echo
    echo "reference skipped: python3-numpy is not installed (apt-get install python3-numpy)"
fi

echo
echo "reconstruction quality of the sculpt engine (bench-shapes, docs/quality.md)"
build/bench/bench-shapes 2>/dev/null

echo
echo "marching cubes and the preview renderer (bench-parts)"
build/bench/bench-parts

echo
echo "HTTP load while the worker is busy (bench/load.sh)"
./bench/load.sh

# The triposr engine at the released model's size on random weights: writes a
# 1.7 GB checkpoint into /tmp, needs about 2 GB of memory and a few minutes.
# LN_BENCH_TRIPOSR=0 skips it.
if [ "${LN_BENCH_TRIPOSR:-1}" != 0 ]; then
    echo
    echo "triposr engine, 512 input, grid 256 (random weights, real shapes)"
    build/bench/bench-triposr 256 /tmp/lunar-nova-bench-triposr
    rm -f /tmp/lunar-nova-bench-triposr/model.safetensors
fi

# Background matting: U^2-Net (320x320) and IS-Net (1024x1024) at their real
# layer sizes with random weights, through our ONNX runtime and through
# PyTorch, same networks, same 1200x900 picture, same thread count
# (LN_BENCH_MATTING_THREADS, default 2), best of 3 each. The .onnx files
# (about 176 MB each) are written into build/bench/matting once by
# tools/onnx/bench_matting.py. Needs python3-torch, python3-onnx and
# python3-pil; LN_BENCH_MATTING=0 skips it.
if [ "${LN_BENCH_MATTING:-1}" != 0 ]; then
    echo
    mt=${LN_BENCH_MATTING_THREADS:-2}
    echo "background matting, random weights, real shapes, $mt threads (seconds per image)"
    if /usr/bin/python3 -c "import torch, onnx, PIL" 2>/dev/null; then
        md=build/bench/matting
        mkdir -p "$md"
        /usr/bin/python3 tools/onnx/bench_matting.py "$md" "$mt" 3 2>/dev/null > "$md/torch.txt"
        read -r _ pw ph pic < <(grep '^picture ' "$md/torch.txt")
        : > "$md/ours.txt"
        grep '^model ' "$md/torch.txt" | while read -r _ name _ path; do
            build/bench/bench-matting "$pic" "$pw" "$ph" "$path" "$name" 3 "$mt" >> "$md/ours.txt"
        done
        cat "$md/ours.txt" "$md/torch.txt" | awk '
            $1 == "ours" && $3 != "threads" { ours[$2, $3] = $4; names[$2] = 1 }
            $1 == "torch" { torch[$2, $3] = $4 }
            END {
                printf "  %-6s %-11s %9s %9s %7s\n", "model", "stage", "ours", "PyTorch", "ratio"
                n = split("load prepare network network-cpu mask total", st, " ")
                for (m in names)
                    for (i = 1; i <= n; i++) {
                        s = st[i]
                        if ((m, s) in torch)
                            printf "  %-6s %-11s %9.3f %9.3f %6.2fx\n", m, s, ours[m, s], torch[m, s], torch[m, s] / ours[m, s]
                        else
                            printf "  %-6s %-11s %9.3f %9s\n", m, s, ours[m, s], "-"
                    }
                print "  (ratio: PyTorch seconds / ours; above 1 means ours is faster)"
            }'
    else
        echo "  skipped: /usr/bin/python3 lacks torch, onnx or PIL (apt-get install python3-torch python3-onnx python3-pil)"
    fi
fi
