#!/bin/bash
# Compile and run the replay tool: test/engine/tools/run-replay.sh '<counterexample JSON>'
set -e
cd "$(dirname "$0")/../../.."
npx tsc -p tsconfig.json --outDir .cache/dbg --noEmit false --declaration false --sourceMap false >/dev/null 2>&1 || npx tsc -p tsconfig.json --outDir .cache/dbg --noEmit false --declaration false --sourceMap false
USERFAULTFD_ADDON_DIR="$PWD" node .cache/dbg/test/engine/tools/replay.js "$1"
