#!/usr/bin/env bash
# make bench-kernels: the same benchmarks with each kernel set this CPU has
# (LN_CPU) and with a build compiled for this machine alone (-march=native,
# build-native/), in one run, so the cost of one binary for every CPU is
# measured rather than guessed. Rounds alternate the builds (ROUNDS, 2 by
# default) so that a slow minute of a shared machine does not favour one.
# bench-triposr writes a 1.7 GB checkpoint into /tmp each time.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
cmake -S . -B build-native -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLN_NATIVE=ON >/dev/null
cmake --build build-native -j "$(nproc)" --target bench-generate bench-triposr >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
build/lunar-nova --version | tail -1
sets=()
for s in avx512 avx2 baseline; do
    if LN_CPU=$s build/lunar-nova --version 2>/dev/null | grep -q "^kernels: $s "; then sets+=("$s"); fi
done
out=$(mktemp -d)
configs=(native "${sets[@]}")
run() { # CONFIG CMD...: runs CMD with the build and LN_CPU of CONFIG
    local c=$1
    shift
    if [ "$c" = native ]; then "build-native/bench/$@"; else LN_CPU=$c "build/bench/$@"; fi
}
for r in $(seq "$rounds"); do
    for c in "${configs[@]}"; do
        echo "round $r: $c"
        run "$c" bench-generate single 1024 256 3 >>"$out/gen-single-$c.txt"
        run "$c" bench-generate views 1024 256 4 3 >>"$out/gen-views-$c.txt"
        run "$c" bench-triposr 256 /tmp/lunar-nova-bench-kernels >>"$out/triposr-$c.txt"
        rm -f /tmp/lunar-nova-bench-kernels/model.safetensors
    done
done
# Best of the rounds per figure.
best() { # FILE AWK-PROGRAM-PRINTING-ONE-NUMBER-PER-ROUND
    awk "$2" "$1" | sort -g | head -1
}
echo
printf "%-10s %9s %9s %9s %9s %9s %9s %8s\n" config single views encoder backbone "scene" "grid/s" "GLB 256"
for c in "${configs[@]}"; do
    s=$(best "$out/gen-single-$c.txt" '/total/ {print $(NF-4)}')
    v=$(best "$out/gen-views-$c.txt" '/total/ {print $(NF-4)}')
    e=$(best "$out/triposr-$c.txt" '/^image encoder/ {print $(NF-3)}')
    b=$(best "$out/triposr-$c.txt" '/^backbone/ {print $(NF-3)}')
    sc=$(best "$out/triposr-$c.txt" '/^image -> scene code/ {print $(NF-3)}')
    d=$(awk '/dense: .* points\/s/ {print $2}' "$out/triposr-$c.txt" | sort -g | tail -1)
    w=$(best "$out/triposr-$c.txt" '/^whole image -> GLB/ {print $(NF-1)}')
    printf "%-10s %9s %9s %9s %9s %9s %9s %8s\n" "$c" "$s" "$v" "$e" "$b" "$sc" "$d" "$w"
    echo "$c $s $v $e $b $sc $d $w" >>"$out/summary.txt"
done
echo "(seconds, best of $rounds rounds; grid/s: dense density points per second)"
echo
echo "against the -march=native build (time ratio; dense rate ratio inverted):"
awk 'NR == 1 {for (i = 2; i <= 8; i++) n[i] = $i; next}
     {printf "%-10s", $1; for (i = 2; i <= 8; i++) printf " %8.3f", (i == 7) ? n[i] / $i : $i / n[i]; printf "\n"}' \
    "$out/summary.txt"
echo "per-stage output: $out"
