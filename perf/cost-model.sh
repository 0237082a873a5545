#!/bin/sh
# How synchronisation costs grow with the rank count. Runs bench_cost at 2 to
# 64 ranks (oversubscribed: the counts it reads do not depend on timing), with
# node sharing off so that every rank is its own node, as across hosts. For
# each operation it fits messages and bytes per rank and call to
# a + b*log2(N) + c*N (least squares), prints the measured and extrapolated
# table (1,024 and 10,000 ranks) and plots both (PNG, gnuplot).
# A collective counts as ceil(log2 N) messages (recursive doubling).
# Usage: perf/cost-model.sh [BUILD_DIR] [OUT_DIR]   (build/release, perf-cost)
# COST_RANKS overrides the rank counts; BENCH_K and BENCH_REPS pass through.
set -eu
BUILD=${1:-build/release}
OUT=${2:-perf-cost}
RANKS=${COST_RANKS:-"2 4 8 16 32 64"}
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MDSM_NODE_SHARING=off
if [ ! -x "$BUILD/perf/bench_cost" ]; then
    echo "cost-model.sh: no $BUILD/perf/bench_cost (build it first: cmake --build $BUILD)" >&2
    exit 2
fi
mkdir -p "$OUT"
DATA="$OUT/cost.dat"
: >"$DATA"
for n in $RANKS; do
    # --oversubscribe is Open MPI's; MPICH's mpiexec oversubscribes anyway.
    extra=""
    "$MPIRUN" --version 2>&1 | grep -q "Open MPI" && extra="--oversubscribe"
    # shellcheck disable=SC2086
    if ! "$MPIRUN" $extra -n "$n" "$BUILD/perf/bench_cost" >"$OUT/run-$n.txt" 2>&1; then
        echo "cost-model.sh: bench_cost failed at $n ranks:" >&2
        tail -5 "$OUT/run-$n.txt" >&2
        exit 1
    fi
    # N op messages bytes (collectives as ceil(log2 N) messages each)
    awk '$1 == "cost" {
        l = 0; while (2 ^ l < $2) l++
        printf "%d %s %.3f %.1f\n", $2, $3, $4 + $5 + $6 * l, $7 }' "$OUT/run-$n.txt" >>"$DATA"
done

# Least squares on the basis 1, log2 N, N with non-negative coefficients (a
# cost cannot shrink as ranks are added): every subset of the basis is fitted
# (normal equations, Gauss-Jordan) and the best one whose coefficients are all
# non-negative is kept.
FIT="$OUT/fit.txt"
awk -v out="$OUT" '
function lg(x) { return log(x) / log(2) }
function base(i, n) { return i == 0 ? 1 : i == 1 ? lg(n) : n }
function fit(op, col, mask,    i, j, k, r, f, a, b, res, e) {
    for (i = 0; i < 3; i++) { b[i] = 0; for (j = 0; j < 3; j++) a[i, j] = (i == j && !(int(mask / 2 ^ i) % 2)) }
    for (r = 1; r <= cnt[op]; r++)
        for (i = 0; i < 3; i++) if ((int(mask / 2 ^ i) % 2)) {
            b[i] += base(i, N[op, r]) * Y[op, col, r]
            for (j = 0; j < 3; j++) if ((int(mask / 2 ^ j) % 2)) a[i, j] += base(i, N[op, r]) * base(j, N[op, r])
        }
    for (i = 0; i < 3; i++) {
        if (a[i, i] == 0) return -1
        for (k = 0; k < 3; k++) if (k != i) {
            f = a[k, i] / a[i, i]
            for (j = 0; j < 3; j++) a[k, j] -= f * a[i, j]
            b[k] -= f * b[i]
        }
    }
    for (i = 0; i < 3; i++) { T[i] = b[i] / a[i, i]; if (T[i] < -1e-9) return -1 }
    res = 0
    for (r = 1; r <= cnt[op]; r++) {
        e = Y[op, col, r]; for (i = 0; i < 3; i++) e -= T[i] * base(i, N[op, r])
        res += e * e
    }
    return res
}
function solve(op, col,    mask, res, best, i) {
    best = -1
    for (mask = 1; mask < 8; mask++) {
        res = fit(op, col, mask)
        if (res >= 0 && (best < 0 || res < best - 1e-9)) {
            best = res; for (i = 0; i < 3; i++) C[op, col, i] = T[i] < 0 ? 0 : T[i]
        }
    }
}
function model(op, col, n) { return C[op, col, 0] + C[op, col, 1] * lg(n) + C[op, col, 2] * n }
{
    op = $2
    if (!(op in cnt)) { ops[++nops] = op; cnt[op] = 0 }
    r = ++cnt[op]; N[op, r] = $1; Y[op, 1, r] = $3; Y[op, 2, r] = $4
}
END {
    printf "# fit per rank and call: a + b*log2(N) + c*N, coefficients >= 0\n"
    printf "%-24s %-9s %10s %10s %10s | %12s %12s %12s\n", "operation", "metric", "a", "b", "c",
           "N=64", "N=1024", "N=10000"
    for (o = 1; o <= nops; o++) {
        op = ops[o]
        for (col = 1; col <= 2; col++) {
            solve(op, col)
            printf "%-24s %-9s %10.3f %10.3f %10.4f | %12.1f %12.1f %12.1f\n", op,
                   col == 1 ? "messages" : "bytes", C[op, col, 0], C[op, col, 1], C[op, col, 2],
                   model(op, col, 64), model(op, col, 1024), model(op, col, 10000)
            fn = out "/fit-" op "-" col ".dat"
            for (n = 2; n <= 10000; n *= 1.25) printf "%g %g\n", n, model(op, col, n) > fn
            close(fn)
        }
    }
}' "$DATA" | tee "$FIT"

echo "# measured (per rank and call): N operation messages bytes"
cat "$DATA"

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "cost-model.sh: no gnuplot, so no plot (apt-get install gnuplot-nox)" >&2
    exit 0
fi
PNG="$OUT/cost-model.png"
ops=$(awk '{print $2}' "$DATA" | awk '!seen[$0]++')
plot() { # column
    sep=""
    c=0
    for op in $ops; do
        c=$((c + 1))
        printf '%s"< grep \\" %s \\" %s" using 1:%s with points pt 7 lc %d title "%s", ' \
            "$sep" "$op" "$DATA" "$1" "$c" "$op"
        printf '"%s/fit-%s-%s.dat" using 1:2 with lines lc %d notitle' \
            "$OUT" "$op" "$(($1 - 2))" "$c"
        sep=", "
    done
}
gnuplot <<EOF
set terminal pngcairo size 1200,520 noenhanced
set output "$PNG"
set multiplot layout 1,2 title "mdsm: cost per rank and call against rank count (fits extrapolated to 10,000)"
set logscale xy
set xrange [2:10000]
set xlabel "ranks"
set key top left
set grid
set ylabel "messages per rank"
plot $(plot 3)
set ylabel "bytes per rank"
plot $(plot 4)
unset multiplot
EOF
echo "plot: $PNG"
