# music-gen: set-up, generation and tests. Every target sets up what it needs on a fresh machine.
#
#   make generate PROMPT="calm piano melody"    # writes output.wav
#   make test                                  # lint, types, tests
#
# torch is installed first and explicitly: TORCH names the build (here the CPU wheel; on a GPU
# host, e.g. TORCH="torch==2.13.0 --index-url <your CUDA wheel index>").

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PROMPT ?= calm piano melody with soft strings
MODEL ?=
MIDI ?=
DURATION ?= 10
OUTPUT ?= output.wav
BIN := $(VENV)/bin

.PHONY: setup generate test lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(TORCH)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[dev]"
	# tinysoundfont declares pyaudio (playback only, needs portaudio headers): not needed here
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps "tinysoundfont>=0.3.7"
	touch $@

setup: $(BIN)/.installed

generate: setup
	@PROMPT="$(PROMPT)" MODEL="$(MODEL)" DURATION="$(DURATION)" OUTPUT="$(OUTPUT)" MIDI="$(MIDI)" \
		BIN="$(BIN)" bash scripts/generate.sh

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
