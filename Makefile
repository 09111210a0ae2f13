.PHONY: run test down status

run:  ## set everything up and run the platform locally
	scripts/run.sh

test:  ## set everything up and run the whole test suite
	scripts/test.sh

down:
	.venv/bin/soma infra down

status:
	.venv/bin/soma infra status
