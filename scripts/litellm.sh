#!/usr/bin/env bash
# LiteLLM's proxy for bench/peer.py, in a venv of its own under .state/: its pinned
# dependencies (rich<14, websockets<16, openai 1.x, ...) clash with the project's. 1.100.5:
# newer releases pin litellm-proxy-extras versions that PyPI does not serve. Idempotent:
# reinstalls only when the pinned version changes.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.100.5
VENV=.state/litellm-venv
if [[ -x $VENV/bin/litellm ]] && [[ "$(cat $VENV/.version 2>/dev/null)" == "$VERSION" ]]; then
  exit 0
fi
python3.11 -m venv "$VENV" 2>/dev/null || .venv/bin/python -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$VERSION"
echo "$VERSION" > "$VENV/.version"
