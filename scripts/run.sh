#!/usr/bin/env bash
# Set everything up and run the platform locally on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/soma infra up
.venv/bin/soma db upgrade
.venv/bin/soma models seed
.venv/bin/soma infra status
