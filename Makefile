# Needs only Python 3.11+ and make: everything else is installed into .venv from the pins.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)

.PHONY: install browser run demo h5-demo openapi test test-unit test-integration test-e2e test-browser h5-screenshots lint bench clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The hosted page's tests drive Debian's chromium (Playwright never downloads a browser here)
# and need a CJK font. Installed with apt-get when missing and this is root on Debian/Ubuntu;
# elsewhere install them yourself (or set CARRIER_AUTH_CHROMIUM to a Chromium binary).
browser:
	@if [ -x "$${CARRIER_AUTH_CHROMIUM:-/usr/bin/chromium}" ] && [ -d /usr/share/fonts/opentype/noto ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "make browser: install chromium and fonts-noto-cjk (the page tests are skipped without them)"; fi

run: install ## start the embedded stack (API on 127.0.0.1:3000, moto on 127.0.0.1:5000); CARRIER_AUTH_SANDBOX_LATENCY_MS slows every sandbox upstream call
	$(PY) -m local

demo: install ## walk the happy flow against a running `make run`
	$(PY) -m local.demo

h5-demo: install ## print a hosted H5 page link (open it in a browser) from a running `make run`
	$(PY) -m local.h5_demo

test: install browser ## unit, integration (real ASL in moto), end-to-end and hosted-page (real browser) tests
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q tests/integration
	$(PY) -m pytest -q tests/e2e
	$(PY) -m pytest -q tests/browser

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

test-e2e: install
	$(PY) -m pytest -q tests/e2e

test-browser: install browser
	$(PY) -m pytest -q tests/browser

h5-screenshots: install browser ## the hosted page at a phone viewport, step by step, into docs/h5/
	CARRIER_AUTH_H5_SCREENSHOTS=docs/h5 $(PY) -m pytest -q tests/browser

openapi: install ## regenerate docs/openapi.json from the route declarations and models (a test fails when it is stale)
	$(PY) -m carrier_auth.api > docs/openapi.json

lint: install
	$(VENV)/bin/cfn-lint template.yaml

bench: install ## measurements, not tests: see bench/README.md
	$(PY) -m bench.happy_flow
	$(PY) -m bench.identity_cache
	$(PY) -m bench.direct_vs_gateway
	$(PY) -m bench.cold_start
	$(PY) -m bench.concurrency
	$(PY) -m bench.cost
	$(PY) -m bench.h5_page

clean:
	rm -rf $(VENV) .aws-sam
