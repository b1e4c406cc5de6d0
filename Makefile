# Two commands: `make run` serves the bot, `make test` runs the whole suite.
# Both install what is missing first (Python 3.10 venv from requirements.lock, redis-server).
PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false

.PHONY: install run test train eval portfolio lint typecheck clean bench

install:
	@bash scripts/bootstrap.sh

run: install
	@$(PY) -m scripts.run

test: install
	@$(PY) -m pytest

train: install
	@$(PY) -m scripts.train

# NLU on the shared real-language dev sets (English, Chinese) and tests/nlu/held_out.yml; prints JSON
eval: install
	@$(PY) -m scripts.eval_nlu

# latency, throughput, memory and training time against a vanilla `rasa init` bot; prints JSON
bench: install
	@$(PY) -m scripts.bench

portfolio: install
	@$(PY) -m bot.cli load-portfolio

lint: install
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: install
	@$(PY) -m mypy

clean:
	rm -rf models .rasa var/log results reports
