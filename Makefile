# `make lab` and `make test` set everything up on first use (.venv/ with lfwb and all extras).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lfwb-setup

.PHONY: setup lab test bench browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build 2.13.0 in pyproject.toml; llama-cpp-python compiles once, then pip caches it.
	$(BIN)/python -m pip install --quiet -e '.[all]'
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

# Debian's Chromium for the tests of what a person sees (Playwright drives it; its own download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium + chromium-driver"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

lab: setup
	$(BIN)/jupyter lab notebooks/quickstart.ipynb

test: setup
	$(BIN)/python -m pytest --nbval-lax tests notebooks

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
