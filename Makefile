# The two set-up commands are `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the heavy `landmarks` extra (facial measurements): the tests need it, `make demo` does not
LANDMARKS := $(VENV)/.landmarks

.PHONY: demo test bench lint typecheck pytest docs serve-docs clean medplum

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "telemedroom needs Python >= 3.11; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[all,dev]"
	@touch $(STAMP)

$(LANDMARKS): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[landmarks]"
	@touch $(LANDMARKS)

demo: $(STAMP)
	$(BIN)/telemedroom demo

test: lint typecheck pytest docs

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP) $(LANDMARKS)
	$(BIN)/mypy src

# Medplum's FHIR engine for the interoperability tests (tests/_medplum): npm ci from the
# registry, pinned by package-lock.json. Without npm the tests that need it skip (or fail
# under TELEMEDROOM_REQUIRE_ALL, as .ci/run sets).
MEDPLUM := tests/_medplum/node_modules/.installed
$(MEDPLUM): tests/_medplum/package.json tests/_medplum/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/_medplum --no-audit --no-fund --loglevel=error && touch $(MEDPLUM) \
			|| echo "npm ci in tests/_medplum failed: the tests against Medplum's FHIR engine cannot run" >&2; \
	else echo "npm is not installed: the tests against Medplum's FHIR engine cannot run" >&2; fi

medplum: $(MEDPLUM)

# pytest exits 5 when it collected nothing: say so plainly instead of a bare "Error 5".
pytest: $(STAMP) $(MEDPLUM) $(LANDMARKS)
	@$(BIN)/python -m pytest --durations=25; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite must not be empty" >&2; fi; \
	exit $$status

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

serve-docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: $(STAMP) $(LANDMARKS)
	$(BIN)/python benchmarks/bench_decode.py
	$(BIN)/python benchmarks/bench_media.py
	$(BIN)/python benchmarks/bench_ble.py
	$(BIN)/python benchmarks/bench_fhir.py
	$(BIN)/python benchmarks/bench_scheduling.py
	$(BIN)/python benchmarks/bench_session.py
	$(BIN)/python benchmarks/bench_kiosk.py
	$(BIN)/python benchmarks/bench_monitor.py
	$(BIN)/python benchmarks/bench_room.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python benchmarks/bench_face.py
	$(BIN)/python benchmarks/bench_sfu.py

clean:
	rm -rf $(VENV) tests/_medplum/node_modules .mypy_cache .pytest_cache .ruff_cache .hypothesis .benchmarks site
