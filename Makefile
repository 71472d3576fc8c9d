# Portcullis — the two commands a newcomer needs are `make run` and `make test`.
#
# RocksDB comes from Debian's librocksdb-dev (7.8.3), linked through
# ROCKSDB_LIB_DIR with crate rocksdb 0.21: a from-scratch build then takes about
# a minute instead of ~12 minutes of bundled C++ (see README, "Build choices").

SHELL := /bin/bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/portcullis/target
# Resolved lazily, after `deps` has installed the package.
export ROCKSDB_LIB_DIR ?= $(shell dirname "$$(dpkg -L librocksdb-dev 2>/dev/null | grep 'librocksdb\.so$$' | head -1)" 2>/dev/null)

BIN := $(CARGO_TARGET_DIR)/release/portcullis
DOOR_BIN := $(CARGO_TARGET_DIR)/release/portcullis-door
DEB_PACKAGES := librocksdb-dev libclang-dev pkg-config build-essential curl ca-certificates prometheus git python3 python3-venv chromium chromium-driver libnss3-tools openssl

# Test peers (an OSDP reader from PyPI libosdp, ...) live in a virtual
# environment outside the clone, rebuilt when tests/peers/requirements.txt
# changes.
VENV := $(HOME)/.cache/portcullis/venv
export PORTCULLIS_PEER_PYTHON := $(VENV)/bin/python

.PHONY: help deps peers build build-doors run doors cluster test bench bench-doors compare load clean-data

help:
	@echo "make run      install what is missing, generate the dev PKI, start the appliance, issue a demo card"
	@echo "make test     install what is missing and run every test"
	@echo "make doors    the appliance, a door controller and two simulated OSDP readers: a card opens a door, a forced door raises an alarm"
	@echo "make cluster  three NATS servers and three appliances sharing one change log (see docs/CLUSTER.md)"
	@echo "make bench    criterion benchmarks"
	@echo "make bench-doors  card read to strike command, 64 OSDP readers (see docs/PERFORMANCE.md)"
	@echo "make compare  Portcullis vs Redis with TLS, side by side (see docs/PERFORMANCE.md)"

## Debian packages and the Rust toolchain.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup (https://rustup.rs) and re-run"; exit 1; }

## The test peers' virtual environment.
peers: deps $(VENV)/.installed

$(VENV)/.installed: tests/peers/requirements.txt
	@[ -x "$(VENV)/bin/python" ] || /usr/bin/python3 -m venv "$(VENV)"
	"$(VENV)/bin/pip" install -q --disable-pip-version-check -r tests/peers/requirements.txt
	@cp tests/peers/requirements.txt "$@"

build: deps
	cargo build --release --bin portcullis
	@ln -sf "$(BIN)" ./portcullis

build-doors: deps
	cargo build --release -p portcullis -p portcullis-door
	@ln -sf "$(BIN)" ./portcullis
	@ln -sf "$(DOOR_BIN)" ./portcullis-door

## The doors demo (in ./door-demo, its own ports; see crates/door/demo).
doors: build-doors peers
	bash crates/door/demo/doors.sh

## Three NATS servers and three appliances on loopback (in ./cluster-demo).
cluster: build peers
	bash tests/peers/cluster.sh

## Card read at the reader to strike command at the reader, 64 readers.
bench-doors: build-doors peers
	bash benches/doors.sh

## Start the appliance on its embedded defaults (loopback, certs/, data/, keys/).
run: build
	@set -euo pipefail; \
	if [ ! -f certs/ca.crt ]; then ./portcullis pki init; fi; \
	[ -f certs/clients/security-office-admin.crt ] || ./portcullis pki issue --role security-office --name admin >/dev/null; \
	[ -f certs/clients/reader-demo-reader.crt ] || ./portcullis pki issue --role reader --name demo-reader >/dev/null; \
	./portcullis run & pid=$$!; \
	trap 'kill -INT $$pid 2>/dev/null; wait $$pid' EXIT INT TERM; \
	for i in $$(seq 1 100); do curl -fs http://127.0.0.1:9477/readyz >/dev/null 2>&1 && break; \
	  kill -0 $$pid 2>/dev/null || { echo "the appliance did not start (see the log above)"; exit 1; }; sleep 0.1; done; \
	./portcullis reader register --name demo-reader --doors 1,2 >/dev/null; \
	./portcullis access show 2>/dev/null | grep -q '"demo"' || ./portcullis access set --json \
	  '{"door_groups":{"demo-doors":[1,2]},"schedules":{},"levels":{"demo":{"door_group":"demo-doors"}},"holidays":[]}' >/dev/null; \
	./portcullis dlc set --code Demonstration --name "Demonstration" >/dev/null; \
	./portcullis holder show --holder 1 >/dev/null 2>&1 || ./portcullis holder create --id-number 900000001 \
	  --last-name Demo --first-name Cardholder --status registered --department Demonstration --affiliation student >/dev/null; \
	./portcullis holder levels --holder 1 --levels demo >/dev/null; \
	number=$$({ ./portcullis card replace --holder 1 2>/dev/null || ./portcullis card issue --holder 1; } | awk '/access number/ {print $$NF}'); \
	echo; \
	echo "Portcullis is running: readers 127.0.0.1:7443, admin 127.0.0.1:7444, metrics http://127.0.0.1:9477/metrics"; \
	echo "Demo card issued. In another terminal, in this directory:"; \
	echo "  ./portcullis reader verify --door 1 --number $$number                     # GRANT"; \
	echo "  ./portcullis reader verify --door 1 --number $$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')   # DENY (unknown)"; \
	echo "Ctrl-C stops it."; \
	wait $$pid

## Every test (unit and integration, over real mTLS).
test: deps peers
	cargo test --workspace

bench: deps
	cargo bench

compare: build
	bash benches/compare.sh

clean-data:
	rm -rf data keys
