# nextgen.rollout: `make demo` and `make test` work on a bare Debian 12 machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
SANITY_DIR := build/ansible_collections/nextgen/rollout
MOLECULE_SCENARIOS := nginx blue_green

.PHONY: help setup test unit lint sanity molecule e2e demo hosts-up hosts-down build clean

help:
	@echo "make setup         install everything (venv, docker engine, compose, local images)"
	@echo "make test          the whole suite: unit, lint, sanity, molecule, end-to-end"
	@echo "make demo          a blue-green deploy and rollback under live load on a simulated host"
	@echo "make hosts-up / hosts-down   start / remove the simulated hosts of inventories/local"

setup:
	@scripts/setup.sh

test: setup
	@scripts/test.sh

unit: setup
	$(BIN)/pytest tests/unit

lint: setup
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

build: setup
	rm -f nextgen-rollout-*.tar.gz
	$(BIN)/ansible-galaxy collection build --force .

sanity: setup
	rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(SANITY_DIR)
	cd $(SANITY_DIR) && git init -q && git add -A && ansible-test sanity --requirements --python 3.11

molecule: setup
	for scenario in $(MOLECULE_SCENARIOS); do $(BIN)/molecule test -s $$scenario || exit 1; done

e2e: setup
	$(BIN)/pytest tests/e2e

demo: setup
	@scripts/demo.sh

hosts-up: setup
	$(BIN)/python scripts/simhosts.py up --count 1

hosts-down:
	python3 scripts/simhosts.py down

clean: hosts-down
	rm -rf build nextgen-rollout-*.tar.gz
