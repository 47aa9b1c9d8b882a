#!/usr/bin/env bash
# drag vs skopeo pull benchmark (not a test). Usage:
#
#   bench/run.sh                                  # full size: ~500 MiB image, 3 runs
#   DRAG_BIN=target/release/drag BENCH_SCALE=0.05 BENCH_RUNS=1 bench/run.sh
#
# Builds drag in release (skipped when DRAG_BIN is set), builds two test
# images with bench/make_image.py, cached under $BENCH_DIR (default
# /tmp/drag-bench; delete it to rebuild): "big", 4 gzip layers of real files
# from this machine, ~500 MiB compressed (~1.2 GiB uncompressed, depending on
# the files) at BENCH_SCALE=1.0, the scale multiplying the size (about a
# minute to build at 1.0); and "many", 40 layers of 1 MiB of incompressible
# data. Serves both from a throwaway docker-registry on loopback, then times
# each case BENCH_RUNS times (default 3), alternating which tool goes first,
# every command under /usr/bin/time -v (wall clock, 10 ms resolution, and max
# RSS), with fresh outputs and a fresh DRAG_CACHE_DIR:
#
#   docker archive  drag pull -o X.tar              vs skopeo copy docker-archive:X  (informative)
#   --decompress    drag pull --decompress -o X.tar vs the same skopeo runs          (drag <= 0.35x)
#   oci             drag pull --format oci -o DIR   vs skopeo copy oci:DIR:1          (drag <= 0.5x)
#   40 layers       drag pull -o X.tar              vs skopeo copy docker-archive:X  (drag <= 0.5x)
#   push            drag push DIR REG/X             vs skopeo copy oci:DIR:1 docker://REG/X (informative)
#   warm cache      the docker archive pull again with its cache (warm <= 0.2x cold)
#   peak RSS        drag's max RSS over the --decompress runs    (< 48 MiB)
#
# skopeo's docker-archive always holds uncompressed layers, so its one run per
# round serves both archive rows. Prints a table of medians on stdout (progress
# on stderr) and writes it as markdown to bench/results.md. Needs skopeo,
# docker-registry, curl, python3 and /usr/bin/time (Debian package "time").
# The registry and all outputs go away on exit; the image cache stays.
set -euo pipefail

BENCH_SCALE=${BENCH_SCALE:-1.0}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/drag-bench}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
results_md="$here/results.md"

# Targets: drag/skopeo ratios, warm/cold ratio, RSS in MiB.
TARGET_DECOMPRESS=0.35
TARGET_OCI=0.5
TARGET_MANY=0.5
TARGET_WARM=0.2
TARGET_RSS_MIB=48

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

for tool in skopeo docker-registry curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian packages: skopeo docker-registry curl python3)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (Debian: apt-get install time)"
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"

# --- drag -------------------------------------------------------------------
if [[ -n ${DRAG_BIN:-} ]]; then
    drag=$(realpath "$DRAG_BIN")
else
    say "bench: cargo build --release -p drag-cli"
    (cd "$root" && cargo build --release -p drag-cli)
    drag="$root/target/release/drag"
fi
[[ -x $drag ]] || die "no drag binary at $drag"

# --- images -----------------------------------------------------------------
mkdir -p "$BENCH_DIR"
big_dir=$(python3 "$here/make_image.py" big --cache "$BENCH_DIR" --scale "$BENCH_SCALE")
many_dir=$(python3 "$here/make_image.py" many --cache "$BENCH_DIR" --layers 40 --layer-mib 1)
image_sizes() {
    python3 -c 'import json,sys; s=json.load(open(sys.argv[1]+"/stats.json"));
print("%d layers, %.1f MiB compressed, %.1f MiB uncompressed" % (len(s["layers"]), s["compressed"]/2**20, s["uncompressed"]/2**20))' "$1"
}
big_desc=$(image_sizes "$big_dir")
many_desc=$(image_sizes "$many_dir")

# --- registry ---------------------------------------------------------------
work=$(mktemp -d "$BENCH_DIR/run.XXXXXX")
registry_pid=
cleanup() {
    if [[ -n $registry_pid ]]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -fsS -o /dev/null "$url/v2/" 2>/dev/null && break
    kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; die "docker-registry exited"; }
    sleep 0.1
done
curl -fsS -o /dev/null "$url/v2/" || { cat "$work/registry.log" >&2; die "docker-registry not ready"; }

say "bench: pushing images to $url"
python3 "$here/make_image.py" push "$big_dir" "$url" bench/big 1
python3 "$here/make_image.py" push "$many_dir" "$url" bench/many 1

# --- timing -----------------------------------------------------------------
# Loopback must not go through a proxy.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
export NO_COLOR=1
policy="$work/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
samples="$work/samples.tsv"  # case tool run seconds rss_kib
: >"$samples"
out="$work/out"

# timed CASE TOOL RUN CMD...: one sample of CMD's wall time and max RSS.
timed() {
    local case=$1 tool=$2 run=$3
    shift 3
    sync
    if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/cmd.log" 2>&1; then
        say "bench: failed: $*"
        cat "$work/cmd.log" "$work/time.txt" >&2
        exit 1
    fi
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
    [[ -n $wall && -n $rss ]] || die "could not parse /usr/bin/time output: $(cat "$work/time.txt")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$run" "$wall" "$rss" >>"$samples"
    awk -v c="$case" -v t="$tool" -v r="$run" -v w="$wall" -v m="$rss" \
        'BEGIN { printf "  run %d  %-12s %-7s %8.2f s %8.1f MiB\n", r, c, t, w, m / 1024 }' >&2
}

# Outputs and caches go between commands, outside the timed region.
reset() { rm -rf "$out" "$work"/cache.*; mkdir -p "$out"; sync; }
fresh_cache() { mktemp -d "$work/cache.XXXXXX"; }
made() {  # PATH: the command must have written PATH; then it goes.
    [[ -s $1 || -d $1 ]] || { cat "$work/cmd.log" >&2; die "no output at $1"; }
    rm -rf "$1"
}
drag_pull() {  # CASE CACHE OUTPUT IMAGE [ARGS...]
    local case=$1 cache=$2 output=$3 image=$4
    shift 4
    timed "$case" drag "$run" env DRAG_CACHE_DIR="$cache" \
        "$drag" pull --endpoint "$url" -q "$@" -o "$output" "$image"
    made "$output"
}
skopeo_copy() {  # CASE IMAGE DEST OUTPUT
    timed "$1" skopeo "$run" skopeo --policy "$policy" copy -q --src-tls-verify=false \
        "docker://127.0.0.1:$port/$2" "$3"
    made "$4"
}
# The cases; the cold archive pull fills $warm_cache for the warm one.
drag_archive() { drag_pull archive "$warm_cache" "$out/drag.tar" bench/big:1; }
drag_decompress() { drag_pull decompress "$(fresh_cache)" "$out/drag-d.tar" bench/big:1 --decompress; }
drag_warm() { drag_pull warm "$warm_cache" "$out/drag-warm.tar" bench/big:1; }
drag_oci() { drag_pull oci "$(fresh_cache)" "$out/drag-oci" bench/big:1 --format oci; }
drag_many() { drag_pull many "$(fresh_cache)" "$out/drag-many.tar" bench/many:1; }
skopeo_archive() { skopeo_copy archive bench/big:1 "docker-archive:$out/s.tar:bench/big:1" "$out/s.tar"; }
skopeo_oci() { skopeo_copy oci bench/big:1 "oci:$out/s-oci:1" "$out/s-oci"; }
skopeo_many() { skopeo_copy many bench/many:1 "docker-archive:$out/s-many.tar:bench/many:1" "$out/s-many.tar"; }
# Pushes: the big image's OCI layout (made once, untimed) into a repository that is new for
# each run and tool, so every blob is uploaded. skopeo's blob-info cache would let it mount
# blobs it saw in another repository of this registry: it is removed before each of its runs.
push_src="$work/push-src"
drag_push() {
    timed push drag "$run" "$drag" push -q "$push_src" "127.0.0.1:$port/push-drag-$run/big:1"
}
skopeo_push() {
    rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb \
        "${XDG_DATA_HOME:-$HOME/.local/share}/containers/cache/blob-info-cache-v1.boltdb"
    timed push skopeo "$run" skopeo --policy "$policy" copy -q --dest-tls-verify=false \
        "oci:$push_src:1" "docker://127.0.0.1:$port/push-skopeo-$run/big:1"
}
alternate() {  # FN...: in this order on odd runs, reversed on even runs
    local i
    if ((run % 2)); then
        for ((i = 1; i <= $#; i++)); do "${!i}"; done
    else
        for ((i = $#; i >= 1; i--)); do "${!i}"; done
    fi
}

say "bench: big image: $big_desc"
say "bench: 40-layer image: $many_desc"
say "bench: $BENCH_RUNS run(s) of each; $(nproc) CPUs"
for ((run = 1; run <= BENCH_RUNS; run++)); do
    reset
    warm_cache=$(fresh_cache)
    alternate drag_archive skopeo_archive drag_decompress
    drag_warm
    reset
    alternate drag_oci skopeo_oci
    reset
    alternate drag_many skopeo_many
    reset
    [[ -d $push_src ]] || skopeo --policy "$policy" copy -q --src-tls-verify=false \
        "docker://127.0.0.1:$port/bench/big:1" "oci:$push_src:1"
    alternate drag_push skopeo_push
done
reset

# --- report -----------------------------------------------------------------
# summarize CASE TOOL median|maxrss: the median wall time (s) or the largest
# max RSS (MiB) of those samples, unrounded; "-" when there are none.
summarize() {
    awk -F'\t' -v c="$1" -v t="$2" '$1 == c && $2 == t { print $4, $5 }' "$samples" | sort -n |
        awk -v what="$3" '{ w[NR] = $1; if ($2 > m) m = $2 }
            END {
                if (NR == 0) { print "-"; exit }
                if (what == "maxrss") { printf "%.6f\n", m / 1024; exit }
                med = (NR % 2) ? w[(NR + 1) / 2] : (w[NR / 2] + w[NR / 2 + 1]) / 2
                printf "%.6f\n", med
            }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.6f\n", a / b; else print "-" }'; }
verdict() {  # VALUE OP TARGET, on unrounded values
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "-") { print "n/a"; exit }
        ok = (op == "<=") ? (v + 0 <= t + 0) : (v + 0 < t + 0); print ok ? "pass" : "FAIL" }'
}
fmt() {  # DECIMALS VALUE
    awk -v d="$1" -v v="$2" 'BEGIN { if (v == "-") print "-"; else printf "%.*f\n", d, v }'
}

rows=()  # case|drag s|skopeo s|ratio|target|verdict, rounded for display
row() {  # LABEL DRAG_CASE SKOPEO_CASE TARGET
    local d s r v=info target=-
    d=$(summarize "$2" drag median)
    s=$(summarize "$3" skopeo median)
    r=$(ratio "$d" "$s")
    if [[ -n $4 ]]; then
        v=$(verdict "$r" '<=' "$4")
        target="<= $4"
    fi
    rows+=("$1|$(fmt 2 "$d")|$(fmt 2 "$s")|$(fmt 3 "$r")|$target|$v")
}
row "docker archive, layers as served" archive archive ""
row "docker archive --decompress" decompress archive "$TARGET_DECOMPRESS"
row "oci layout" oci oci "$TARGET_OCI"
row "40 x 1 MiB layers" many many "$TARGET_MANY"
row "push oci layout, new repository" push push ""

cold_raw=$(summarize archive drag median)
warm_raw=$(summarize warm drag median)
warm_ratio_raw=$(ratio "$warm_raw" "$cold_raw")
warm_verdict=$(verdict "$warm_ratio_raw" '<=' "$TARGET_WARM")
cold=$(fmt 2 "$cold_raw")
warm=$(fmt 2 "$warm_raw")
warm_ratio=$(fmt 3 "$warm_ratio_raw")
rss_raw=$(summarize decompress drag maxrss)
rss_verdict=$(verdict "$rss_raw" '<' "$TARGET_RSS_MIB")
rss=$(fmt 1 "$rss_raw")
rss_rows=()  # drag case|drag MiB|skopeo MiB
for c in archive:archive decompress:archive oci:oci many:many push:push warm:-; do
    rss_rows+=("${c%:*}|$(fmt 1 "$(summarize "${c%:*}" drag maxrss)")|$(fmt 1 "$(summarize "${c#*:}" skopeo maxrss)")")
done

when=$(date -u '+%Y-%m-%d %H:%M UTC')
cpus=$(nproc)
drag_version=$("$drag" --version 2>/dev/null || echo "drag ?")
if commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null); then
    git -C "$root" diff --quiet HEAD 2>/dev/null || commit+="+dirty"
    drag_version+=" ($commit)"
fi
skopeo_version=$(skopeo --version)
header="$when, $cpus CPUs, $BENCH_RUNS run(s), BENCH_SCALE=$BENCH_SCALE; $drag_version; $skopeo_version"

{
    echo
    echo "$header"
    echo "big image: $big_desc; 40-layer image: $many_desc"
    echo
    printf '%-34s %9s %9s %7s %8s %s\n' case "drag s" "skopeo s" ratio target result
    for r in "${rows[@]}"; do
        IFS='|' read -r a b c d e f <<<"$r"
        printf '%-34s %9s %9s %7s %8s %s\n' "$a" "$b" "$c" "$d" "$e" "$f"
    done
    echo
    printf 'warm cache: cold %s s, warm %s s, warm/cold %s (target <= %s) %s\n' \
        "$cold" "$warm" "$warm_ratio" "$TARGET_WARM" "$warm_verdict"
    printf 'drag peak RSS (--decompress): %s MiB (target < %s MiB) %s\n' "$rss" "$TARGET_RSS_MIB" "$rss_verdict"
    printf 'max RSS MiB, drag/skopeo:'
    sep=' '
    for r in "${rss_rows[@]}"; do
        IFS='|' read -r a b c <<<"$r"
        printf '%s%s %s/%s' "$sep" "$a" "$b" "$c"
        sep=', '
    done
    echo
}

{
    echo "# drag vs skopeo"
    echo
    echo "Generated by \`bench/run.sh\`: $header."
    echo
    echo "Images on a local \`docker-registry\`: big, $big_desc; many, $many_desc."
    echo "Median wall time of $BENCH_RUNS run(s), fresh output and empty drag cache each run;"
    echo "skopeo's docker-archive holds uncompressed layers, so the same skopeo runs serve both archive rows."
    echo
    echo "| case | drag s | skopeo s | drag/skopeo | target | result |"
    echo "|---|---:|---:|---:|---|---|"
    for r in "${rows[@]}"; do
        IFS='|' read -r a b c d e f <<<"$r"
        echo "| $a | $b | $c | $d | $e | $f |"
    done
    echo
    echo "| drag | value | target | result |"
    echo "|---|---:|---|---|"
    echo "| cold pull (docker archive) | $cold s | | |"
    echo "| warm pull, same cache | $warm s | | |"
    echo "| warm/cold | $warm_ratio | <= $TARGET_WARM | $warm_verdict |"
    echo "| peak RSS, --decompress | $rss MiB | < $TARGET_RSS_MIB MiB | $rss_verdict |"
    echo
    echo "| max RSS MiB | drag | skopeo |"
    echo "|---|---:|---:|"
    for r in "${rss_rows[@]}"; do
        IFS='|' read -r a b c <<<"$r"
        echo "| $a | $b | $c |"
    done
} >"$results_md"
say "bench: wrote $results_md"
