# smsguard: `make demo` runs the detector on simulated traffic (no Kafka needed);
# `make test` installs what the suite needs (venv, Kafka jars, redis-server) and runs it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench clean kafka-jars kafka-up kafka-down redis-server

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/smsguard demo

lint: install
	$(BIN)/ruff check .

test: install kafka-jars redis-server
	$(BIN)/ruff check .
	$(BIN)/pytest

bench: install
	$(BIN)/smsguard bench

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache

# Local Kafka 4.x (KRaft) for development and tests: jars fetched once with Maven into
# ~/.cache/smsguard/kafka-<version>/ (and ~/.m2), never into git. The test suite starts
# its own broker on free ports unless KAFKA_BOOTSTRAP points at one.
kafka-jars:
	bash ops/kafka/local-kafka.sh fetch

kafka-up: kafka-jars
	KAFKA_PORT=$${KAFKA_PORT:-9092} bash ops/kafka/local-kafka.sh start

kafka-down:
	bash ops/kafka/local-kafka.sh stop

# Real redis-server for the enforcement tests (Debian package). The tests start their own
# on a free loopback port, never 6379; the package's own service is stopped if it started.
redis-server:
	command -v redis-server >/dev/null || ( apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server && \
	  ( service redis-server stop >/dev/null 2>&1 || true ) )
