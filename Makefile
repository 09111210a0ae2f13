.PHONY: run test node-deps peer-deps mcp-servers down status

run: mcp-servers  ## set everything up and run the platform locally
	scripts/run.sh

test: node-deps mcp-servers  ## set everything up and run the whole test suite
	scripts/test.sh

node-deps:  ## the official openai npm client the OpenAI-API tests drive (tests/node, lockfile-pinned)
	@command -v npm >/dev/null || { echo "make: node and npm are needed (tests/node)" >&2; exit 1; }
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

peer-deps:  ## LiteLLM's proxy for bench/peer.py, in its own venv under .state/ (pinned)
	scripts/litellm.sh

mcp-servers:  ## the MCP servers the executor runs (.state/mcp-venv, pinned; the npm one is in tests/node)
	scripts/mcp_servers.sh

down:
	.venv/bin/soma infra down

status:
	.venv/bin/soma infra status
