# The course's commands. Each one creates .venv and installs requirements.txt first if needed.
#   make book   build the whole book, executing every chapter, strictly (any error fails);
#               BOOK=dir builds another book folder with the same settings (the tests do)
#   make test   run every test: bnlib unit tests, Keras parity, nbval over every chapter
#   make lab    open the chapters in JupyterLab (LAB=. opens the whole repository, exercises included)
#   make run NB=chapters/NN_topic.ipynb   re-execute one notebook in place (refresh its outputs)
#   make clean  remove the build and the virtual environment
#   make exercises   regenerate the student exercise notebooks and autograders from exercises/masters/
#   make grade SUBMISSIONS=path/to/notebook-or-folder [REPORT=grades.csv]
#               grade submitted exercise notebooks; writes REPORT (CSV) and the same name .json
#   make browser-test   open every page of the built book (`make book` first) in headless Chromium
#               (Debian's chromium), offline: errors, math, figures, links, launch buttons; saves
#               screenshots to _build/screenshots/. HTML=path/to/html tests another build;
#               README_PNG=docs/book.png also refreshes the README's screenshot
#   make budgets   run every chapter in a fresh kernel; print its runtime and peak memory; fail when
#               one is over 90 s or 1.5 GB (NB=chapters/NN_topic.ipynb measures one)
#   make claims SEED_OFFSET=k   the same run with every seed shifted (BN_SEED_OFFSET=k): every
#               chapter's assertions must hold for other seeds; outputs are not compared
#   make test-portable   nbval over every chapter (NB=... for one) under perturbed numerics: numpy's
#               widest SIMD kernels off, one BLAS/OpenMP/TensorFlow thread (scripts/perturbed_env.py)

PYTHON ?= python3.11
BOOK   ?= .
LAB    ?= chapters/
REPORT ?= grades.csv
SEED_OFFSET ?= 0
HTML   ?= $(BOOK)/_build/html
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lab run clean exercises grade browser-test budgets claims test-portable test-fast

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; the course needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build $(BOOK) --warningiserror --nitpick --keep-going

test: $(STAMP)
	$(BIN)/python -m pytest

# bnlib's unit tests alone: seconds, no notebooks, no book build, no Keras comparisons.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -k "not keras" tests/test_batchnorm.py tests/test_variants.py \
	  tests/test_nn.py tests/test_folding.py tests/test_scalers.py tests/test_gradcheck.py \
	  tests/test_bad_input.py

lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB)

run: $(STAMP)
	@test -n "$(NB)" || { echo "usage: make run NB=chapters/NN_topic.ipynb"; exit 1; }
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.store_widget_state=False "$(NB)"

clean:
	rm -rf _build $(VENV) .jupyter_cache

exercises: $(STAMP)
	$(BIN)/python -m grading assign

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=path/to/notebook-or-folder [REPORT=grades.csv]"; exit 1; }
	$(BIN)/python -m grading grade "$(SUBMISSIONS)" --report "$(REPORT)"

browser-test: $(STAMP)
	@test -f "$(HTML)/index.html" || { echo "error: no built book at $(HTML) (index.html missing): run 'make book' first, or pass HTML=path/to/_build/html"; exit 1; }
	$(BIN)/python -m pytest browser_tests --book-html="$(HTML)" $(if $(README_PNG),--readme-png="$(README_PNG)")

budgets: $(STAMP)
	BN_SEED_OFFSET=$(SEED_OFFSET) $(BIN)/python scripts/budgets.py $(NB)

claims: budgets

test-portable: $(STAMP)
	eval "env $$($(BIN)/python scripts/perturbed_env.py) $(BIN)/python -m pytest $(or $(NB),chapters)"

