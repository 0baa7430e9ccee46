# The two commands a newcomer needs: `make run` (chat with the bot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/ankle-bot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: run test bench
run: $(BIN)/ankle-bot
	$(BIN)/python -m bot

test: $(BIN)/ankle-bot
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(BIN)/ankle-bot
	$(BIN)/python -m bench
