# Every target bootstraps itself: a fresh clone needs only Python >= 3.11 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test lint demo bench sim fuzz clean chromium screenshots

# Every install goes through constraints.txt (build backend included), so a fresh clone gets
# the versions the suite last passed with, whatever upstream has released since.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -c constraints.txt --build-constraint constraints.txt \
		-e '.[test]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy actors eventlog specs overlord service airflow_druid_orch

# Two workers: much of the suite waits on subprocesses, timers and sockets rather than CPU.
test: lint chromium
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest -q -n 2 --dist worksteal

# The web console's browser tests (tests/ui) drive Debian's Chromium: Playwright's own browser
# download needs a CDN that this machine cannot reach.
chromium:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium \
		|| { apt-get update -q && apt-get install -y -q chromium; }

# The README's pictures of the console, taken by its browser tests.
screenshots: $(STAMP) chromium
	UI_SCREENSHOTS=1 $(BIN)/pytest -q -p no:randomly tests/ui

demo: $(STAMP)
	$(BIN)/druid-orch demo

sim: $(STAMP)
	$(BIN)/druid-orch sim

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# The control API fuzzed from its OpenAPI document with many more examples than `make test`.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=200 $(BIN)/pytest -q tests/security/test_fuzz.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
