#!/usr/bin/env bash
# Set everything up and run the whole suite: lint, types, Rego tests, pytest on the real stack.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/soma infra up
.venv/bin/soma provision   # migrations, model profiles, SLM artefacts, search corpus

echo "== ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "== mypy --strict src"
.venv/bin/mypy
echo "== opa test policies/opa"
"$(.venv/bin/python -c 'from somaagent.devstack.opa import opa_binary; print(opa_binary())')" test policies/opa
echo "== pytest"
.venv/bin/pytest "$@"
