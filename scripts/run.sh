#!/usr/bin/env bash
# Set everything up and run the platform locally on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/soma up       # the stack, provisioning, then policy engine, workers and gateway
.venv/bin/soma status
