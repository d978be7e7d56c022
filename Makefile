# Two entry points: `make demo` and `make test`. Both work on a fresh machine with Python 3.11+.
#
# paas is installed in setuptools' *strict* editable mode: every file of the package is linked
# into build/__editable__.*, so an edit needs nothing and start-up pays for no import hook (the
# default editable mode installs one; `compat` is deprecated). A file added or removed changes
# $(FILES), which links the tree again on the next `make`. (setuptools' notice not to delete
# build/__editable__.* is filtered: this comment says it.) The container image installs a wheel.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FILES  := $(VENV)/.package-files

.PHONY: demo test install bench clean FORCE

$(STAMP): pyproject.toml $(FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet -e ".[dev]" --config-settings editable_mode=strict
	touch $(STAMP)

# the package's file list; rewritten (so newer than the stamp) only when it changes
$(FILES): FORCE
	@mkdir -p $(VENV)
	@find paas migrations -type f \( -name '*.py' -o -name '*.mako' \) | sort > $@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m paas.devstack.tour

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
