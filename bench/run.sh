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
