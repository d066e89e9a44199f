#!/bin/sh
# Alternates the in-process bench between two checkouts, so "before" and "after" share the same
# minutes of a noisy machine: sh bench/alternate.sh BEFORE_DIR AFTER_DIR [ROUNDS] [FILTER]
# (make BEFORE_DIR with `git worktree add ../before COMMIT` and `npm ci` or a node_modules link).
# Writes one file per run into bench/results/alternate-TIME/ and prints each run's p50 lines.
set -eu
before=$1
after=$2
rounds=${3:-5}
filter=${4:-'check/mix$|checkbulk/100$|lookup'}
out="$(cd "$(dirname "$0")" && pwd)/results/alternate-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$out"
round=1
while [ "$round" -le "$rounds" ]; do
  for side in before after; do
    if [ "$side" = before ]; then dir=$before; else dir=$after; fi
    for mode in mirror no-mirror; do
      extra=""
      [ "$mode" = no-mirror ] && extra="--no-mirror"
      (cd "$dir" && npx tsx bench/run.ts --scale m $extra --filter "$filter") >"$out/$side-$mode-$round.txt" 2>&1
      echo "$side $mode round $round:"
      grep -E '^  [a-z]' "$out/$side-$mode-$round.txt" || true
    done
  done
  round=$((round + 1))
done
