#!/usr/bin/env bash
# The third-party MCP servers that personas/mcp_servers.yml declares and the tests drive:
# mcp-server-time and mcp-server-git (PyPI) in a venv of their own under .state/ (they pin
# their own `mcp` and the executor mounts only this venv, read-only, into each server's
# sandbox, never the project's .venv), and @modelcontextprotocol/server-everything (npm)
# through tests/node's lockfile. Idempotent: reinstalls only when a pinned version changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PINS="mcp-server-time==2026.10.19 mcp-server-git==2026.10.19"
VENV=.state/mcp-venv
# Debian's /usr/bin/python3.11: the sandbox mounts /usr, while a pyenv or other
# interpreter elsewhere (say under /root) would be invisible or unreadable to nobody.
if [[ ! -x $VENV/bin/mcp-server-time ]] || [[ "$(cat $VENV/.pins 2>/dev/null)" != "$PINS" ]] \
   || [[ "$(readlink "$VENV/bin/python3.11")" != /usr/bin/python3.11 ]]; then
  rm -rf "$VENV"
  /usr/bin/python3.11 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" > "$VENV/.pins"
fi
# The sandboxed servers run as nobody: the venv must be readable and traversable by all.
chmod -R a+rX "$VENV"
