#!/usr/bin/env bash
# Fails when src/gen is not what `npm run generate` makes from proto/ (someone edited a .proto
# without regenerating, or hand-edited generated code).
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf lint
npm run --silent generate
if ! git diff --exit-code --stat -- src/gen; then
  echo "src/gen is stale: run 'npm run generate' and commit the result" >&2
  exit 1
fi
untracked="$(git ls-files --others --exclude-standard -- src/gen)"
if [ -n "$untracked" ]; then
  echo "src/gen has files not committed:" >&2
  echo "$untracked" >&2
  exit 1
fi
echo "src/gen is fresh"
