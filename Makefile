# bnrepro: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LATEST = $$(ls -td runs/$(1)/*/ | head -1)

.PHONY: help setup run test test-fast reproduce reproduce-quick sweep-example tensorboard results-local clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/bnrepro: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,joblib,slurm]'
	@touch $@

setup: $(BIN)/bnrepro ## create .venv, install bnrepro and its test tools, fetch MNIST
	$(BIN)/bnrepro data fetch mnist

run: setup ## the main job: sigmoid10 (BN vs no BN, two setups, 3 seeds), its table and figures; ARGS="train.steps=1000" adds overrides
	$(BIN)/bnrepro train +experiment=sigmoid10 $(ARGS)
	$(BIN)/bnrepro table $(call LATEST,sigmoid10) --out runs/tables
	$(BIN)/bnrepro figures $(call LATEST,sigmoid10) --out runs/tables
	@echo "tables and figures: runs/tables/   TensorBoard: $(BIN)/tensorboard --logdir runs/sigmoid10"

test: setup ## the whole test suite, CPU only (a few minutes)
	$(BIN)/python -m pytest

test-fast: ## the tests not marked slow (under a minute on an idle 2-core CPU: 56 s measured, 607 tests, 2026-12-07 15:02)
	$(BIN)/python -m pytest -m "not slow"

reproduce: setup ## regenerate results/: every experiment at full length (GPU when present), tables, figures, report
	scripts/reproduce.sh

reproduce-quick: setup ## the same pipeline in minutes (20 steps, synthetic data) into runs/quick-results (CI)
	scripts/reproduce.sh --quick

sweep-example: setup ## a grid: BN placement x learning rate x 2 seeds, 2,000 steps each
	$(BIN)/bnrepro train name=sweep_example model.bn=none,pre,post optim.lr=0.1,1.0 seed=1,2 train.steps=2000
	$(BIN)/bnrepro table $(call LATEST,sweep_example) --out runs/tables

tensorboard: ## TensorBoard over every run so far
	$(BIN)/tensorboard --logdir runs

clean: ## remove run outputs (not results/, not the data cache)
	rm -rf runs
