# The two commands a fresh machine needs: `make run` (the bot on the terminal chat,
# no Slack tokens needed) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench bench-ack bench-watch bench-alarms bench-explain bench-fleet bench-corpus bench-agents clean

$(BIN)/gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -m compileall -q bot checks >/dev/null
	touch $(BIN)/gateway

install: $(BIN)/gateway

run: install
	$(BIN)/gateway shell

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/check_overhead.py

bench-ack: install
	$(BIN)/python bench/ack_latency.py

bench-watch: install
	$(BIN)/python bench/watch_scale.py

bench-alarms: install
	$(BIN)/python bench/alarm_sweep.py

bench-explain: install
	$(BIN)/python bench/explain_throughput.py

bench-fleet: install
	$(BIN)/python bench/fleet_scale.py --kill-at 60

bench-corpus: install
	$(BIN)/python bench/corpus_eval.py

bench-agents: install
	$(BIN)/python bench/agent_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
