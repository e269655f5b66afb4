# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   create .venv, install, run the offline default model on the bundled mini tasks
#   make test   create .venv, install, lint, run the test suite
# torch is installed first and pinned, so pip never resolves a multi-GB CUDA build by accident;
# on a GPU machine pass the build you want, e.g. `make demo TORCH_SPEC=torch`.
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mmbench-installed
MODELS := builtin:effnet-minilm builtin:random
MINI_TASKS := mini-retrieval mini-classification mini-captioning mini-video-retrieval

.PHONY: install demo test leaderboards clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[builtin,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	@for task in $(MINI_TASKS); do \
	  for model in $(MODELS); do \
	    $(BIN)/mmbench run --model $$model --task $$task --output-dir results/demo --quiet || exit $$?; \
	  done; \
	done
	$(BIN)/mmbench leaderboard results/demo --out results/demo/leaderboard --no-plot >/dev/null
	@cat results/demo/leaderboard/summary.md
	@$(BIN)/mmbench report results/demo --out results/demo/report

# The report's browser tests drive Debian's chromium (Playwright's own browser download needs the
# network); it is installed when missing (CI runs as root), else those tests skip with the reason.
test: install
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "make: chromium could not be installed; the report's browser tests will skip" >&2
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# The published CSVs in leaderboards/ come from real runs of the offline models, regenerated here.
leaderboards: install
	rm -rf results/leaderboard-runs
	@for task in $(MINI_TASKS); do \
	  for model in $(MODELS); do \
	    $(BIN)/mmbench run --model $$model --task $$task --output-dir results/leaderboard-runs --quiet --bootstrap 1000 || exit $$?; \
	  done; \
	done
	$(BIN)/mmbench leaderboard results/leaderboard-runs --out leaderboards

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
