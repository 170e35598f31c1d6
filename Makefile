# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format install install-dev migrate demo-users cluster bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev node_modules/.package-lock.json

# axe-core for the accessibility tests, as package-lock.json pins it (npm writes the target).
# Without npm those tests skip with a reason (outside CI).
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the axe-core accessibility tests will skip"; fi

migrate: install
	$(BIN)/python manage.py migrate --no-input

demo-users: migrate
	$(BIN)/python manage.py create_demo_users
	$(BIN)/python manage.py create_demo_skills

## Serve the site on the embedded defaults (SQLite, in-memory channel layer).
run: demo-users
	@echo "Open http://$(HOST):$(PORT)/messages/"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The whole test suite (set DATABASE_URL / REDIS_URL to test against PostgreSQL / Redis).
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The README's screenshots (docs/screenshots/): the chat at phone and desktop size, in
## Russian and English, taken by /usr/bin/chromium from a site on the embedded defaults.
.PHONY: screenshots
screenshots: install-dev
	$(BIN)/python tools/screenshots.py

## The translation catalogs (README, "Languages"): collect the marked strings of Python,
## templates and scripts into locale/{en,ru}, then compile the .mo files (committed, so a
## clone needs no gettext). Needs GNU gettext. Translate the new entries, then run it again.
MESSAGES_ARGS := -l en -l ru --no-location --no-wrap --no-obsolete \
	--ignore=node_modules --ignore=staticfiles --ignore=bench
.PHONY: messages
messages: install
	$(BIN)/python manage.py makemessages $(MESSAGES_ARGS)
	$(BIN)/python manage.py makemessages -d djangojs $(MESSAGES_ARGS)
	$(BIN)/python manage.py compilemessages --ignore='.*' --ignore=node_modules

## Every benchmark (bench/README.md); none is part of the test suite.
bench: bench-alice bench-chat

clean:
	rm -rf $(VENV) .venv-bench-aliceio staticfiles .pytest_cache .ruff_cache

## Chat benchmarks (see bench/README.md): ours, the stock Channels relay and a plain
## websockets relay under the same load client (mix, delivery path), ours with idle tabs,
## then the pages. Needs PostgreSQL and Redis on loopback.
## Smoke run: make bench-chat BENCH_CHAT_ARGS=--quick BENCH_PAGES_ARGS=--quick
.PHONY: bench-chat
bench-chat: install-dev
	$(BIN)/python -m bench.chat $(BENCH_CHAT_ARGS)
	$(BIN)/python -m bench.pages $(BENCH_PAGES_ARGS)

## N ASGI processes on ports BASE_PORT.. behind nginx on CLUSTER_PORT (docs/deploy.md),
## production-shaped: DEBUG=0, static files collected into deploy/run/, a SECRET_KEY kept in
## deploy/run/secret_key unless the environment sets one; plain HTTP, so a local demo until
## TLS is put in front. Needs REDIS_URL (the processes share messages through Redis) and nginx:
##   REDIS_URL=redis://127.0.0.1:6379/0 make cluster N=3
## More options of deploy/cluster.py: make cluster CLUSTER_ARGS="--access-log"
N ?= 2
BASE_PORT ?= 8001
CLUSTER_PORT ?= 8080
CLUSTER_ARGS ?=
cluster: demo-users
	$(BIN)/python deploy/cluster.py --processes $(N) --base-port $(BASE_PORT) \
		--host $(HOST) --port $(CLUSTER_PORT) --no-migrate $(CLUSTER_ARGS)

## Alice benchmark (bench/README.md, "Alice over HTTP"): the webhook over HTTP, in memory
## and on Redis (needed on loopback), against aliceio on its Redis storage (in a virtualenv
## of its own, made on first use: bench/requirements-aliceio.txt), alice_scripts and a
## trivial endpoint (about 5 minutes). Shorter: make bench-alice BENCH_ALICE_HTTP_ARGS="--rounds 1 --levels 16"
.PHONY: bench-alice
bench-alice: $(VENV)/.installed-bench-alice
	$(BIN)/python bench/alice_http.py $(BENCH_ALICE_HTTP_ARGS)

# alice_scripts pulls DAWG-Python, which overwrites pymorphy3's dawg_python: reinstall it.
$(VENV)/.installed-bench-alice: bench/requirements.txt $(VENV)/.installed-dev
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/pip install --quiet --force-reinstall --no-deps dawg2-python==0.9.0
	touch $@

## The Alice webhook as N granian processes behind nginx's plain round robin, no sticky
## routing (docs/alice.md, "Deploying"): dialogs are shared through Redis when REDIS_URL is
## set, else the database. DEBUG=0 as for `make cluster`; plain HTTP, and Alice calls
## webhooks over HTTPS only, so TLS goes in front. REDIS_URL=redis://127.0.0.1:6379/0 make
## alice-cluster N=3; to see which process answered:
##   make alice-cluster ALICE_CLUSTER_ARGS=--upstream-header
ALICE_BASE_PORT ?= 8101
ALICE_PORT ?= 8180
ALICE_CLUSTER_ARGS ?=
.PHONY: alice-cluster
alice-cluster: migrate
	$(BIN)/python deploy/alice/cluster.py --processes $(N) --base-port $(ALICE_BASE_PORT) \
		--host $(HOST) --port $(ALICE_PORT) $(ALICE_CLUSTER_ARGS)
