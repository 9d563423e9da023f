# The README's commands. Each bootstraps .venv on a fresh machine and is quick when it is current.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins packaging<24, which today's pytest refuses: it gets a venv of its own.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: dev test lint format bench bench-waves bench-recovery bench-kill bench-counts bench-resync bench-files clean

$(STAMP): pyproject.toml devstack/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./devstack
	touch $(STAMP)

$(TOOLS_STAMP):
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet 'checkov>=3.3.30,<4'
	touch $(TOOLS_STAMP)

dev: $(STAMP)
	$(BIN)/migration-app dev $(ARGS)

# RANDOM_ORDER=1 shuffles the test order (pytest-randomly, off by default); SEED=N replays an order.
# Fast suite only: make test PYTEST_ARGS='-m "not integration"'.
RANDOM_ARGS = $(if $(RANDOM_ORDER),-p randomly $(if $(SEED),--randomly-seed=$(SEED)))

# The console's browser tests run when chromium and chromedriver are installed; otherwise pytest
# reports them skipped, saying `apt-get install -y chromium chromium-driver` (as .ci/run does).
test: $(STAMP) $(TOOLS_STAMP)
	@command -v chromedriver >/dev/null || echo "note: no chromium/chromedriver: browser tests will be skipped (apt-get install -y chromium chromium-driver)"
	CHECKOV_BIN=$(CURDIR)/$(TOOLS)/bin/checkov $(BIN)/pytest $(RANDOM_ARGS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Throughput and API calls per customer (results/latest.json), then the replay storm: 20,000
# duplicate events of 200 COMPLETED customers (results/replay_storm.json). ARGS="--only replay"
# or ARGS="--only throughput" runs one section.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(ARGS)

# Ready time and RSS after a kill -9 at 20,000 and 100,000 customers, memory:// vs rocksdb://
# (ARGS="--million" adds 1,000,000), then the restarted worker's idle CPU-s/s and CPU ms per
# /migrations/summary call; writes benchmarks/results/recovery.json.
bench-waves: $(STAMP)
	$(BIN)/python -m benchmarks.waves $(ARGS)

# (above) large waves under the org cost model: graph, collections and bulk with 1, 2 and 4
# workers against cost_model.capacity; writes benchmarks/results/waves.json.
# ARGS="--customers 2000" for a quick run.
bench-recovery: $(STAMP)
	$(BIN)/python -m benchmarks.recovery $(ARGS)

# Issue 23's kill storm: per store (rocksdb:// then memory://) a fresh stack of 3,000 customers at
# 50 ms, the worker SIGKILLed while batches are in flight at 15/35/55/75 % of results and restarted
# on the same data dir; then every customer's final attempt must have its result event (read from
# outside); writes benchmarks/results/kill_storm.json. ARGS="--customers 300 --stores rocksdb://".
bench-kill: $(STAMP)
	$(BIN)/python -m benchmarks.kill_storm $(ARGS)

# What the summary view, heartbeat and /metrics cost at 1,000 / 100,000 / 1,000,000 customers,
# and the one rebuild walk after an assignment, on real RocksDB partitions (no broker);
# writes benchmarks/results/counts_scale.json. ARGS="--sizes 1000,100000".
bench-counts: $(STAMP)
	$(BIN)/python -m benchmarks.counts_scale $(ARGS)

# Issue 26's delta re-sync at scale: 20,000 customers migrated (dirty rate 0, 50 ms per call),
# then 1 % changed in V1, 0.1 % with a V1 deletion, 0.2 % edited by an agent in V2; the time and
# API calls to find them (`resync --dry-run`), the calls per re-synced customer, and the end
# state (verify, the agents' edits kept, CONFLICT reported); writes
# benchmarks/results/resync.json. ARGS="--customers 2000" for a smoke run.
bench-resync: $(STAMP)
	$(BIN)/python -m benchmarks.resync $(ARGS)

# Issue 27's files: 1,000 customers carrying 500 MB of files at 50 ms per call (MB/s,
# customers/s, peak worker RSS, API calls per file), then customers without files with and
# without the mapping's files: section (customers/s and calls per customer); results/files.json
bench-files: $(STAMP)
	$(BIN)/python -m benchmarks.files $(ARGS)

clean:
	rm -rf .devstack .faust-data .pytest_cache
