# nextgen.rollout: `make demo` and `make test` work on a bare Debian 12 machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup controller test unit lint sanity molecule e2e demo bench-switch bench-canary bench-logging bench-guard bench-fleet hosts-up hosts-down build ee clean

help:
	@echo "make setup         install everything (venv, docker engine, compose, local images)"
	@echo "make controller    only what an operator's controller needs to run the playbooks (Ansible, the collection link)"
	@echo "make test          the whole suite: unit, lint, sanity, molecule, end-to-end"
	@echo "make demo          blue-green deploys, a canary and rollbacks under live load on a simulated host"
	@echo "make bench-switch  naive compose up -d vs nginx reloads vs our deploy and warm rollback: wrk, POST, no-op floor"
	@echo "make bench-canary  split accuracy, abort time and exposure vs a plain switch, false aborts"
	@echo "make bench-logging a log call: installed async profile vs plain synchronous file logging"
	@echo "make bench-guard   a version that goes bad after its release: caught by the guard vs by alerts and ansible-rulebook"
	@echo "make bench-fleet   10 hosts under load: one-host deploy and rollback, a fleet deploy in waves, a fleet canary of a bad candidate, the fleet rollback"
	@echo "make ee            the execution environment's build context in build/ee (ansible-builder create)"
	@echo "make hosts-up / hosts-down   start / remove the simulated hosts of inventories/local"

setup:
	@scripts/setup.sh

controller:
	@scripts/controller.sh

test: setup
	@scripts/test.sh

unit lint sanity molecule e2e: setup
	@scripts/test.sh $@

build: setup
	rm -f nextgen-rollout-*.tar.gz
	$(BIN)/ansible-galaxy collection build --force .

ee: setup
	$(BIN)/ansible-galaxy collection build --force --output-path build .
	$(BIN)/ansible-builder create -f execution-environment.yml -c build/ee

demo: setup
	$(BIN)/python scripts/demo.py

bench-switch: setup
	$(BIN)/python benchmarks/bench_switch.py

bench-canary: setup
	$(BIN)/python benchmarks/bench_canary.py

bench-logging: setup
	$(BIN)/python benchmarks/bench_logging.py

bench-guard: setup
	$(BIN)/python benchmarks/bench_guard.py

bench-fleet: setup
	$(BIN)/python benchmarks/bench_fleet.py

hosts-up: setup
	$(BIN)/python scripts/simhosts.py up --count 1

hosts-down:
	python3 scripts/simhosts.py down

clean: hosts-down
	rm -rf build nextgen-rollout-*.tar.gz
