# The two commands of the README's Quick start, plus helpers.
#   make demo   the main job, end to end, on generated data
#   make test   set up (or reuse) the pinned environment and run the tests
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv web browser test demo students bench-inference bench-pipeline lint format clean

venv:
	PYTHON=$(PYTHON) bash tools/make_venv.sh $(VENV)

# The live web page's runtime: onnxruntime-web at the version pinned in
# speechbrain_wav2small/web/package-lock.json, copied into web/vendor/.
web:
	bash tools/build_web.sh

# What the browser test needs: Debian's Chromium and the page's runtime
# (best effort: what cannot be installed here is reported, and the test
# then skips, except under CI, where it fails).
browser:
	bash tools/install_browser.sh

# Two pytest workers (pytest-xdist), one test file each at a time, so that
# module fixtures are built once: most tests wait on subprocesses, file I/O
# or single-threaded start-up, which a second worker overlaps.
test: venv browser
	$(PY) -m pytest -q -n 2 --dist loadfile tests --doctest-modules speechbrain_wav2small

DEMO ?= demo_output

# The demo corpus is generated once (about 10 s); the chain resumes or skips
# whatever stage already finished.
demo: venv
	test -f $(DEMO)/corpus/Labels/labels_consensus.csv || \
	    $(PY) recipes/MSP-Podcast/demo_corpus.py --out $(DEMO)/corpus \
	        --scale 2 --speech_dir tests/data --noise_dir tests/data
	$(PY) recipes/MSP-Podcast/run_chain.py --demo \
	    --data_folder $(DEMO)/corpus --output_folder $(DEMO)

# The paper's comparison on the demo corpus: the teacher and labels of
# `make demo` (made here if missing), then all six students distilled with
# their demo settings, tested, exported and timed; writes
# $(DEMO)/students.json, students.md and students.png. Resumes, and skips
# students already in the table.
students: venv
	test -f $(DEMO)/corpus/Labels/labels_consensus.csv || \
	    $(PY) recipes/MSP-Podcast/demo_corpus.py --out $(DEMO)/corpus \
	        --scale 2 --speech_dir tests/data --noise_dir tests/data
	$(PY) recipes/MSP-Podcast/run_chain.py --demo --students all \
	    --data_folder $(DEMO)/corpus --output_folder $(DEMO)

# The benchmarks of the README's Performance section (about 6 and 3 minutes
# on two cores); each writes its JSON (and table) to benchmarks/results/.
bench-inference: venv
	$(PY) benchmarks/inference.py --out benchmarks/results/inference.json

bench-pipeline: venv
	$(PY) benchmarks/pipeline.py --out benchmarks/results/pipeline.json

# SpeechBrain's linters and rule set (ruff E, W, F, I, B, C4, UP; yamllint)
# on every file git tracks or would track.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	git ls-files --cached --others --exclude-standard '*.yaml' '*.yml' \
	    | xargs $(VENV)/bin/python -m yamllint --no-warnings

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) demo_output .pytest_cache
