#!/usr/bin/env bash
# Sets up (scripts/setup.sh), then runs every check and test: lint, format,
# types, and the vitest suites, which need root for namespaces and BPF.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
node scripts/generate-proto.mjs --check
npx eslint .
npx prettier --check .
npx tsc -p tsconfig.test.json
npx vitest run
