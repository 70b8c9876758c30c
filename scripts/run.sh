#!/usr/bin/env bash
# README command 1: install what is missing, build, run the server on conf/server.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/preforkd -c "${1:-conf/server.toml}"
