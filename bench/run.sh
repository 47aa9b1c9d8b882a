#!/usr/bin/env bash
# drag vs skopeo, curl, cp and distribution: the benchmark (not a test). Usage:
#
#   bench/run.sh                                  # full size: ~500 MiB image, 3 runs
#   DRAG_BIN=target/release/drag BENCH_SCALE=0.05 BENCH_RUNS=1 bench/run.sh
#
# Builds drag in release (skipped when DRAG_BIN is set), builds two test
# images with bench/make_image.py, cached under $BENCH_DIR (default
# /tmp/drag-bench; delete it to rebuild): "big", 4 gzip layers of real files
# from this machine, ~500 MiB compressed (~1.4 GiB uncompressed, depending on
# the files) at BENCH_SCALE=1.0, the scale multiplying the size (about a
# minute to build at 1.0); and "many", 40 layers of 1 MiB of incompressible
# data. Serves both from a throwaway docker-registry on loopback, then times
# each case BENCH_RUNS times (default 3), alternating which tool goes first,
# every command under /usr/bin/time -v (max RSS) and timed by bash's
# EPOCHREALTIME (wall clock, to the microsecond, where time's own is to 10 ms),
# with fresh outputs and a fresh DRAG_CACHE_DIR. Each row is a ratio against a
# reference measured in the same run:
#
#   oci --no-cache    drag pull --format oci --no-cache   / curl floor       <= 1.4
#                                                         / skopeo oci:      <= 0.45
#   oci, cold cache   drag pull --format oci (empty cache)/ curl floor       <= 1.6
#   --decompress      drag pull --decompress -o X.tar     / skopeo docker-archive: <= 0.3
#   rootfs            drag pull --format rootfs           / the --decompress pull  <= 1.1
#   decompress copy   cp of the --decompress archive      / the --decompress pull: the
#                     least rootfs adds, copying its uncompressed layers (informative)
#   decompress warm   drag pull --decompress, warm cache  / the --decompress pull: inflating
#                     every layer again, as a rootfs without scratch files would (informative)
#   40 layers         drag pull -o X.tar (40 x 1 MiB)     / skopeo docker-archive: <= 0.3
#   warm archive      drag pull -o X.tar, warm cache      / cp of that archive     <= 1.15
#   warm layout       drag pull --format oci, warm cache  / the cold layout pull   <= 0.1
#   layout copy       cp -r of the layout a warm pull writes / the cold layout pull: the
#                     floor for a file system that cannot share extents (informative)
#   xfs               the oci cold and warm rows again with cache and output on an XFS loop
#                     mount (reflinks), when BENCH_CASES has xfs and this runs as root
#   push              drag push DIR REG/X                 / skopeo copy oci: docker:// <= 0.5
#   push floor        curl uploading the same blobs (one PATCH each, all at once) and the
#                     manifest, over skopeo: what the registry itself allows (informative)
#   serve             16 parallel pulls from drag serve   / the same from docker-registry <= 1.0
#   serve CPU         the server's own CPU seconds for that batch, drag serve / docker-registry
#                     (informative; steadier than the wall time, mostly the clients')
#   archive           drag pull -o X.tar (layers as served) / skopeo docker-archive: (informative)
#   peak RSS          every drag pull and push case <= 32 MiB; drag serve <= 64 MiB
#
# The curl floor is curl fetching the big image's config and layers into files,
# all at once: what any layout writer must at least do. skopeo's docker-archive
# always holds uncompressed layers, so its one run per round serves the archive
# rows. A serve round is 16 clients (curl, to /dev/null) each fetching the
# manifest, config and layers, all started together, timed as one batch.
# Prints the table on stdout (progress on stderr) and writes it as markdown to
# bench/results.md. Needs skopeo, docker-registry, curl, python3 and
# /usr/bin/time (Debian package "time"). The registry and all outputs go away
# on exit; the image cache stays.
set -euo pipefail

BENCH_SCALE=${BENCH_SCALE:-1.0}
# Which groups of cases run (all by default): archive (archive, --decompress, rootfs, warm,
# cp), oci (floor, --no-cache, cold, warm, layout copy), many, push (drag, skopeo, curl),
# serve, xfs (oci cold and warm on an XFS loop mount; needs root and mkfs.xfs).
BENCH_CASES=${BENCH_CASES:-archive oci many push serve xfs}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/tmp/drag-bench}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
results_md="$here/results.md"

# Targets: ratios (drag over the reference), RSS in MiB.
TARGET_OCI_FLOOR=1.4
TARGET_OCI_SKOPEO=0.45
TARGET_OCI_COLD_FLOOR=1.6
TARGET_DECOMPRESS=0.3
TARGET_ROOTFS=1.1
TARGET_MANY=0.3
TARGET_WARM_CP=1.15
TARGET_WARM_LAYOUT=0.1
TARGET_PUSH=0.5
TARGET_SERVE=1.0
TARGET_RSS_MIB=32
TARGET_SERVE_RSS_MIB=64
SERVE_CLIENTS=16

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
xfs_mnt=
cleanup() {
    if [[ -n $xfs_mnt ]]; then
        rm -rf "${xfs_mnt:?}"/* 2>/dev/null || true
        umount -l "$xfs_mnt" 2>/dev/null || true
    fi
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

# record CASE TOOL RUN TIMEFILE [WALL]: one sample from a /usr/bin/time -v report, with WALL
# (seconds) in place of the report's wall time, which is to 10 ms.
record() {
    local wall=${5:-} rss
    [[ -n $wall ]] || wall=$(awk -F': ' '/Elapsed \(wall clock\) time/ {
        n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$4")
    rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$4")
    [[ -n $wall && -n $rss ]] || die "could not parse /usr/bin/time output: $(cat "$4")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$wall" "$rss" >>"$samples"
    awk -v c="$1" -v t="$2" -v r="$3" -v w="$wall" -v m="$rss" \
        'BEGIN { printf "  run %d  %-13s %-13s %8.2f s %8.1f MiB\n", r, c, t, w, m / 1024 }' >&2
}

# timed CASE TOOL RUN CMD...: one sample of CMD's wall time and max RSS.
timed() {
    local case=$1 tool=$2 run=$3
    shift 3
    sync
    local start=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/cmd.log" 2>&1; then
        say "bench: failed: $*"
        cat "$work/cmd.log" "$work/time.txt" >&2
        exit 1
    fi
    local end=$EPOCHREALTIME
    record "$case" "$tool" "$run" "$work/time.txt" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", b - a }')"
}

# Outputs and caches go between commands, outside the timed region.
reset() { rm -rf "$out" "$work"/cache.*; mkdir -p "$out"; sync; }
fresh_cache() { mktemp -d "$work/cache.XXXXXX"; }
made() {  # PATH: the command must have written PATH; then it goes.
    [[ -s $1 || -d $1 ]] || { cat "$work/cmd.log" >&2; die "no output at $1"; }
    rm -rf "$1"
}
drag_pull() {  # CASE CACHE OUTPUT IMAGE [ARGS...]: keeps OUTPUT
    local case=$1 cache=$2 output=$3 image=$4
    shift 4
    timed "$case" drag "$run" env DRAG_CACHE_DIR="$cache" \
        "$drag" pull --endpoint "$url" -q "$@" -o "$output" "$image"
    [[ -s $output || -d $output ]] || { cat "$work/cmd.log" >&2; die "no output at $output"; }
}
skopeo_copy() {  # CASE IMAGE DEST OUTPUT
    timed "$1" skopeo "$run" skopeo --policy "$policy" copy -q --src-tls-verify=false \
        "docker://127.0.0.1:$port/$2" "$3"
    made "$4"
}

# The big image's blobs (config and layers) as URLs, for the curl floor.
blob_urls=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json"));
print("\n".join(sys.argv[2]+"/v2/bench/big/blobs/"+d["digest"] for d in [m["config"]]+m["layers"]))' \
    "$big_dir" "$url")
# fetch_all DIR: curl every blob into DIR at once (what a layout writer must at least do).
fetch_all() {
    local dir=$1 u n=0
    mkdir -p "$dir"
    for u in $blob_urls; do
        n=$((n + 1))
        curl -fsS -o "$dir/blob-$n" "$u" &
    done
    wait
}
export -f fetch_all
export blob_urls

# The cases. The cold archive pull fills $warm_cache for the warm one; the cold layout pull
# fills $layout_cache for the warm layout one.
drag_archive() { drag_pull archive "$warm_cache" "$out/drag.tar" bench/big:1; }  # kept for cp_archive
drag_warm() { drag_pull warm "$warm_cache" "$out/drag-warm.tar" bench/big:1; made "$out/drag-warm.tar"; }
# cp of the very archive the warm pull writes again: the floor for a warm pull. Run next to the
# warm pull, each going first on alternate runs, so the two meet the same disk.
cp_archive() {
    timed cp cp "$run" cp "$out/drag.tar" "$out/cp.tar"
    made "$out/cp.tar"
}
# A --decompress pull from the warm cache: every layer inflated again, as a rootfs writer
# without scratch files would have to in a second pass.
drag_warm_decompress() {
    drag_pull decompress-warm "$warm_cache" "$out/drag-wd.tar" bench/big:1 --decompress
    made "$out/drag-wd.tar"
}
drag_decompress() {
    drag_pull decompress "$(fresh_cache)" "$out/drag-d.tar" bench/big:1 --decompress
    # cp of the uncompressed layers: what rootfs adds at least, copying its scratch layers
    # into the tree's order.
    sync
    timed decompress-copy cp "$run" cp "$out/drag-d.tar" "$out/cp-d.tar"
    made "$out/cp-d.tar"
    made "$out/drag-d.tar"
}
drag_rootfs() { drag_pull rootfs "$(fresh_cache)" "$out/drag-rootfs.tar" bench/big:1 --format rootfs; made "$out/drag-rootfs.tar"; }
drag_oci() { drag_pull oci-nocache "$(fresh_cache)" "$out/drag-oci" bench/big:1 --format oci --no-cache; made "$out/drag-oci"; }
drag_oci_cold() { drag_pull oci-cold "$layout_cache" "$out/drag-oci-cold" bench/big:1 --format oci; made "$out/drag-oci-cold"; }
drag_oci_warm() {
    drag_pull oci-warm "$layout_cache" "$out/drag-oci-warm" bench/big:1 --format oci
    # cp of the very layout the warm pull writes: the floor without shared extents.
    sync
    timed layout-copy cp "$run" cp -r "$out/drag-oci-warm" "$out/cp-oci"
    made "$out/cp-oci"
    made "$out/drag-oci-warm"
}
# The same two on XFS, cache and output both on the loop mount.
xfs_cold() { drag_pull xfs-cold "$xfs_mnt/cache" "$xfs_mnt/cold" bench/big:1 --format oci; rm -rf "$xfs_mnt/cold"; }
xfs_warm() { drag_pull xfs-warm "$xfs_mnt/cache" "$xfs_mnt/warm" bench/big:1 --format oci; rm -rf "$xfs_mnt/warm"; }
drag_many() { drag_pull many "$(fresh_cache)" "$out/drag-many.tar" bench/many:1; made "$out/drag-many.tar"; }
curl_floor() { timed floor curl "$run" bash -c 'fetch_all "$1"' _ "$out/floor"; made "$out/floor"; }
skopeo_archive() { skopeo_copy archive bench/big:1 "docker-archive:$out/s.tar:bench/big:1" "$out/s.tar"; }
skopeo_oci() { skopeo_copy oci-nocache bench/big:1 "oci:$out/s-oci:1" "$out/s-oci"; }
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

# Serving: $SERVE_CLIENTS clients at once, each fetching the manifest, config and layers of
# bench/big:1 from BASE to /dev/null; timed as one batch.
serve_src="$work/serve-src.tar"
clients() {  # BASE
    local base=$1 i u
    for ((i = 0; i < SERVE_CLIENTS; i++)); do
        (
            curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
                "$base/v2/bench/big/manifests/1"
            for u in $blob_urls; do curl -fsS -o /dev/null "$base${u#"$url"}"; done
        ) &
    done
    wait
}
export -f clients
export SERVE_CLIENTS url
# drag serve SRC, run under /usr/bin/time so its own peak RSS is recorded when it stops.
drag_serve() {
    local sport pid
    sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    /usr/bin/time -v -o "$work/serve-time.txt" "$drag" serve --listen "127.0.0.1:$sport" "$serve_src" \
        >"$work/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$sport/v2/" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$sport/v2/" || { cat "$work/serve.log" >&2; die "drag serve not ready"; }
    local server before
    server=$(pgrep -P "$pid")
    before=$(cpu_ticks "$server")
    timed serve drag "$run" bash -c 'clients "$1"' _ "http://127.0.0.1:$sport"
    record_cpu serve-cpu drag "$run" "$before" "$(cpu_ticks "$server")"
    pkill -INT -P "$pid" || true
    wait "$pid" || true
    record serve-rss drag "$run" "$work/serve-time.txt"
}
# curl_push REPO: the layout's blobs uploaded by curl, all at once, each a POST and one PATCH
# of the whole blob then the PUT, and the manifest after them: what the registry allows.
curl_push() {
    local repo=$1 f loc manifest
    for f in "$push_src"/blobs/sha256/*; do
        (
            loc=$(curl -fsS -X POST -D - -o /dev/null "$url/v2/$repo/blobs/uploads/" |
                tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
            [[ $loc == http* ]] || loc="$url$loc"
            loc=$(curl -fsS -X PATCH -H 'Content-Type: application/octet-stream' -H 'Expect:' -T "$f" \
                -D - -o /dev/null "$loc" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
            [[ $loc == http* ]] || loc="$url$loc"
            [[ $loc == *\?* ]] && loc+="&" || loc+="?"
            curl -fsS -X PUT -o /dev/null "${loc}digest=sha256:${f##*/}"
        ) &
    done
    wait
    manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"].split(":")[1])' "$push_src")
    curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$push_src/blobs/sha256/$manifest" "$url/v2/$repo/manifests/1"
}
export -f curl_push
export push_src
push_floor() { timed push curl "$run" bash -c 'curl_push "$1"' _ "push-curl-$run/big"; }
registry_serve() {
    local before
    before=$(cpu_ticks "$registry_pid")
    timed serve distribution "$run" bash -c 'clients "$1"' _ "$url"
    record_cpu serve-cpu distribution "$run" "$before" "$(cpu_ticks "$registry_pid")"
}
# The servers' own CPU for a batch: the wall time is mostly the 16 curls', so this is the
# steadier comparison of the servers on a shared machine.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # PID: user+system clock ticks
record_cpu() {  # CASE TOOL RUN TICKS_BEFORE TICKS_AFTER: a sample of CPU seconds
    local secs
    secs=$(awk -v a="$4" -v b="$5" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
    printf '%s\t%s\t%s\t%s\t0\n' "$1" "$2" "$3" "$secs" >>"$samples"
    awk -v c="$1" -v t="$2" -v r="$3" -v w="$secs" \
        'BEGIN { printf "  run %d  %-13s %-13s %8.2f s CPU\n", r, c, t, w }' >&2
}
alternate() {  # FN...: in this order on odd runs, reversed on even runs
    local i
    if ((run % 2)); then
        for ((i = 1; i <= $#; i++)); do "${!i}"; done
    else
        for ((i = $#; i >= 1; i--)); do "${!i}"; done
    fi
}
wanted() { [[ " $BENCH_CASES " == *" $1 "* ]]; }
can_serve=0
"$drag" serve --help >/dev/null 2>&1 && can_serve=1

say "bench: big image: $big_desc"
say "bench: 40-layer image: $many_desc"
say "bench: $BENCH_RUNS run(s) of each; $(nproc) CPUs"
for ((run = 1; run <= BENCH_RUNS; run++)); do
    reset
    if wanted archive; then
        warm_cache=$(fresh_cache)
        alternate drag_archive skopeo_archive drag_decompress drag_rootfs
        alternate drag_warm cp_archive
        made "$out/drag.tar"
        drag_warm_decompress
        reset
    fi
    if wanted oci; then
        layout_cache=$(fresh_cache)
        alternate curl_floor drag_oci skopeo_oci drag_oci_cold
        drag_oci_warm
        reset
    fi
    if wanted many; then
        alternate drag_many skopeo_many
        reset
    fi
    if wanted push; then
        [[ -d $push_src ]] || skopeo --policy "$policy" copy -q --src-tls-verify=false \
            "docker://127.0.0.1:$port/bench/big:1" "oci:$push_src:1"
        alternate drag_push skopeo_push push_floor
    fi
    if wanted xfs && [[ -z $xfs_mnt ]] && ((EUID == 0)) && command -v mkfs.xfs >/dev/null; then
        truncate -s 3G "$work/xfs.img"
        mkfs.xfs -q -f -m reflink=1 "$work/xfs.img"
        mkdir -p "$work/xfs"
        if mount -o loop "$work/xfs.img" "$work/xfs"; then xfs_mnt="$work/xfs"; fi
    fi
    if wanted xfs && [[ -n $xfs_mnt ]]; then
        rm -rf "${xfs_mnt:?}/cache"
        xfs_cold
        xfs_warm
    fi
    if ((can_serve)) && wanted serve; then
        [[ -s $serve_src ]] || "$drag" pull --endpoint "$url" -q --no-cache -o "$serve_src" bench/big:1
        alternate drag_serve registry_serve
    fi
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

rows=()  # case|drag s|reference|reference s|ratio|target|verdict, rounded for display
row2() {  # LABEL CASE TOOL REF_CASE REF_TOOL REF_LABEL TARGET; left out when CASE did not run
    local d s r v=info target=-
    d=$(summarize "$2" "$3" median)
    [[ $d != - ]] || return 0
    s=$(summarize "$4" "$5" median)
    r=$(ratio "$d" "$s")
    if [[ -n $7 ]]; then
        v=$(verdict "$r" '<=' "$7")
        target="<= $7"
    fi
    rows+=("$1|$(fmt 2 "$d")|$6|$(fmt 2 "$s")|$(fmt 3 "$r")|$target|$v")
}
row() { row2 "$1" "$2" drag "${@:3}"; }  # LABEL DRAG_CASE REF_CASE REF_TOOL REF_LABEL TARGET
row "oci --no-cache" oci-nocache floor curl "curl floor" "$TARGET_OCI_FLOOR"
row "oci --no-cache" oci-nocache oci-nocache skopeo "skopeo oci:" "$TARGET_OCI_SKOPEO"
row "oci, cold cache" oci-cold floor curl "curl floor" "$TARGET_OCI_COLD_FLOOR"
row "docker archive --decompress" decompress archive skopeo "skopeo docker-archive:" "$TARGET_DECOMPRESS"
row "rootfs" rootfs decompress drag "drag --decompress" "$TARGET_ROOTFS"
row2 "cp of the --decompress archive" decompress-copy cp decompress drag "drag --decompress" ""
row "--decompress from a warm cache" decompress-warm decompress drag "drag --decompress" ""
row "40 x 1 MiB layers" many many skopeo "skopeo docker-archive:" "$TARGET_MANY"
row "warm archive pull" warm cp cp "cp of the archive" "$TARGET_WARM_CP"
row "warm layout pull" oci-warm oci-cold drag "cold layout pull" "$TARGET_WARM_LAYOUT"
row2 "cp -r of that layout (ext4 floor)" layout-copy cp oci-cold drag "cold layout pull" ""
row "oci, cold cache, on XFS" xfs-cold floor curl "curl floor" "$TARGET_OCI_COLD_FLOOR"
row "warm layout pull, on XFS" xfs-warm xfs-cold drag "cold layout pull on XFS" "$TARGET_WARM_LAYOUT"
row "push oci layout, new repository" push push skopeo "skopeo copy" "$TARGET_PUSH"
row2 "push floor: curl, one PATCH per blob" push curl push skopeo "skopeo copy" ""
row "$SERVE_CLIENTS parallel pulls, drag serve" serve serve distribution "docker-registry" "$TARGET_SERVE"
row "server CPU s for those pulls" serve-cpu serve-cpu distribution "docker-registry CPU s" ""
row "docker archive, layers as served" archive archive skopeo "skopeo docker-archive:" ""

rss_rows=()  # drag case|MiB|target|verdict
for c in archive decompress decompress-warm rootfs oci-nocache oci-cold many warm oci-warm xfs-cold xfs-warm push serve-rss; do
    limit=$TARGET_RSS_MIB
    [[ $c == serve-rss ]] && limit=$TARGET_SERVE_RSS_MIB
    m=$(summarize "$c" drag maxrss)
    [[ $m != - ]] || continue
    rss_rows+=("$c|$(fmt 1 "$m")|<= $limit|$(verdict "$m" '<=' "$limit")")
done
ref_rss_rows=()  # reference case|tool|MiB
for c in archive:skopeo oci-nocache:skopeo many:skopeo push:skopeo floor:curl serve:distribution; do
    ref_rss_rows+=("${c%:*}|${c#*:}|$(fmt 1 "$(summarize "${c%:*}" "${c#*:}" maxrss)")")
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
serve_note=""
((can_serve)) || serve_note="(this drag has no \`serve\`: the serve rows are empty)"

{
    echo
    echo "$header"
    echo "big image: $big_desc; 40-layer image: $many_desc $serve_note"
    echo
    printf '%-38s %8s  %-24s %8s %7s %7s %s\n' case "s" reference "ref s" ratio target result
    for r in "${rows[@]}"; do
        IFS='|' read -r a b c d e f g <<<"$r"
        printf '%-38s %8s  %-24s %8s %7s %7s %s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
    done
    echo
    printf 'drag peak RSS MiB:'
    for r in "${rss_rows[@]}"; do
        IFS='|' read -r a b c d <<<"$r"
        printf ' %s %s (%s)' "$a" "$b" "$d"
    done
    echo
    printf 'reference peak RSS MiB:'
    for r in "${ref_rss_rows[@]}"; do
        IFS='|' read -r a b c <<<"$r"
        printf ' %s/%s %s' "$a" "$b" "$c"
    done
    echo
}

{
    echo "# drag against its references"
    echo
    echo "Generated by \`bench/run.sh\`: $header."
    echo
    echo "Images on a local \`docker-registry\`: big, $big_desc; many, $many_desc. $serve_note"
    echo "Median wall time of $BENCH_RUNS run(s), fresh output and empty drag cache each run"
    echo "(except the warm rows); every reference measured in the same run."
    echo
    echo "| case | s | reference | reference s | ratio | target | result |"
    echo "|---|---:|---|---:|---:|---|---|"
    for r in "${rows[@]}"; do
        IFS='|' read -r a b c d e f g <<<"$r"
        echo "| $a | $b | $c | $d | $e | $f | $g |"
    done
    echo
    echo "| drag peak RSS | MiB | target | result |"
    echo "|---|---:|---|---|"
    for r in "${rss_rows[@]}"; do
        IFS='|' read -r a b c d <<<"$r"
        echo "| $a | $b | $c | $d |"
    done
    echo
    echo "| reference peak RSS | tool | MiB |"
    echo "|---|---|---:|"
    for r in "${ref_rss_rows[@]}"; do
        IFS='|' read -r a b c <<<"$r"
        echo "| $a | $b | $c |"
    done
} >"$results_md"
say "bench: wrote $results_md"
