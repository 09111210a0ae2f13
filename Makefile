.PHONY: run test node-deps down status

run:  ## set everything up and run the platform locally
	scripts/run.sh

test: node-deps  ## set everything up and run the whole test suite
	scripts/test.sh

node-deps:  ## the official openai npm client the OpenAI-API tests drive (tests/node, lockfile-pinned)
	@command -v npm >/dev/null || { echo "make: node and npm are needed (tests/node)" >&2; exit 1; }
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

down:
	.venv/bin/soma infra down

status:
	.venv/bin/soma infra status
