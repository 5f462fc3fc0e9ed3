# `make lab` and `make test` set everything up on first use (.venv/ with lfwb and all extras).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lfwb-setup
# The JSX preview's front end, bundled from extension/ (rebuilt when anything there changes).
RUNTIME := lfwb/static/runtime.js

.PHONY: setup lab notebook test bench browser docs clean

setup: $(STAMP) $(RUNTIME)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build 2.13.0 in pyproject.toml; llama-cpp-python compiles once, then pip caches it.
	$(BIN)/python -m pip install --quiet -e '.[all]'
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

# npm ci + esbuild: React, sucrase and framer-motion into lfwb/static/ (shipped in the wheel).
$(RUNTIME): extension/package.json extension/package-lock.json extension/build.mjs $(wildcard extension/src/*)
	@command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to build the JSX preview (extension/); install Node.js 18+"; exit 1; }
	cd extension && npm ci --no-audit --no-fund --loglevel=error && node build.mjs
	touch $(RUNTIME)

# Debian's Chromium for the tests of what a person sees (Playwright drives it; its own download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium + chromium-driver"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

# Jupyter refuses to start as root unless told (containers and many cloud machines run as root).
ALLOW_ROOT = $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01-quickstart.ipynb

# The same notebooks in Notebook 7 (`jupyter notebook`).
notebook: setup
	$(BIN)/jupyter notebook $(ALLOW_ROOT) notebooks/01-quickstart.ipynb

test: setup
	$(BIN)/ruff check lfwb tests benchmarks
	$(BIN)/ruff format --check lfwb tests benchmarks
	$(BIN)/mypy lfwb
	$(BIN)/python -m pytest --nbval-lax tests notebooks

# The docs site into site/ (strict: a broken link or a missing page fails the build).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache site
