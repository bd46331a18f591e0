#!/usr/bin/env bash
# berth's main job on the bundled example: validate examples/quickstart and show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
BERTH=${1:-build/berth}
echo "\$ berth validate examples/quickstart"
"$BERTH" validate examples/quickstart
