#!/bin/sh
# How long `latch` and `latch/embedded` take to start, beside bare `node` (issue 13, item 7).
# Measures the compiled package (`npm run build` first), as users run it, with hyperfine
# (`apt-get install hyperfine`): min and median of RUNS runs after 3 warm-ups.
#
#   sh bench/startup.sh [ROOT] [RUNS]     ROOT: a built checkout (default: this one), RUNS: 30
#
# Prints one line per command: min and median wall time, and mean CPU time (user + system), in
# ms; CPU time moves less than wall time when other work shares the machine. The databases are
# made in a temporary directory: one on schemas/docs.zed (no caveats), one on schemas/rag.zed.
set -eu
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
runs=${2:-30}
latch="node $root/dist/cli/main.js"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$latch schema write --db "$tmp/docs.db" "$root/schemas/docs.zed" >/dev/null
$latch relationships write --db "$tmp/docs.db" 'folder:shared#owner@user:olga' 'document:plan#parent@folder:shared' >/dev/null
$latch schema write --db "$tmp/rag.db" "$root/schemas/rag.zed" >/dev/null
$latch relationships write --db "$tmp/rag.db" 'document:plan#viewer@user:olga' \
  'document:plan#sensitivity@user:*[sensitivity_cleared:{"sensitivity":2}]' >/dev/null

# measure NAME COMMAND: COMMAND is one string, split by hyperfine as a shell would (no shell runs).
measure() {
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$tmp/out.json" "$2" >/dev/null
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results[0];
    const ms = (s) => (s * 1000).toFixed(0).padStart(5);
    console.log(`${ms(r.min)} ${ms(r.median)} ${ms(r.user + r.system)}  ${process.argv[2]}`);
  ' "$tmp/out.json" "$1"
}

cd "$tmp"
echo "  min median   cpu (ms)"
measure "node -e 0" "node -e 0"
measure "latch --version" "$latch --version"
measure "latch schema check docs.zed" "$latch schema check $root/schemas/docs.zed"
measure "latch schema check rag.zed (caveats)" "$latch schema check $root/schemas/rag.zed"
measure "latch check --db (docs.zed)" "$latch check document:plan view user:olga --db $tmp/docs.db"
measure "latch check --db (rag.zed, caveats)" \
  "$latch check document:plan read user:olga --db $tmp/rag.db --context '{\"clearance\":3}'"
measure "import latch/embedded" \
  "node --input-type=module -e \"await import('$root/dist/client/embedded-entry.js')\""
