# Interlude: `make run` to use it, `make test` to test it. See README.md.
.PHONY: install run chat train test lint bench clean

install:
	@bash scripts/install.sh

run: install
	@.venv/bin/interlude run

chat:
	@.venv/bin/interlude chat

train: install
	@.venv/bin/interlude train

test:
	@bash scripts/install.sh --browser
	@bash scripts/test.sh

lint: install
	@.venv/bin/ruff check bot actions tests && .venv/bin/ruff format --check bot actions tests
	@.venv/bin/lint-imports --no-cache
	@.venv/bin/interlude validate

bench: install
	@.venv/bin/python -m bot.bench
	@.venv/bin/python -m bot.bench_compare
	@.venv/bin/python -m bot.bench_compare --postgres
	@.venv/bin/python -m bot.bench_replicas

clean:
	rm -rf build models .rasa .pytest_cache .ruff_cache
