# picseq: `make report` regenerates the report, `make test` runs the tests, `make lab` opens JupyterLab.
# Each target creates .venv and installs what it needs on first use.
PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
PROFILE   ?= smoke
ONLY      ?=
FORCE     ?=
# WORKERS=N: the fits of each run.map loop as Ray tasks on N GPUs (or N CPU slots); RAY_ADDRESS joins a cluster
WORKERS   ?=
ifneq ($(WORKERS),)
export PICSEQ_WORKERS := $(WORKERS)
endif
# The torch pair this project is developed and tested with; override for another CUDA/CPU build.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
STAMP     := $(VENV)/.installed
# Waiting OpenMP threads spin briefly, then sleep (picseq_utils/__init__.py): several runs at once share the cores.
export GOMP_SPINCOUNT ?= 30000
# ISA=avx2 caps oneDNN, ATen and MKL at AVX2 (the kernels most users' CPUs run) for any target below.
# Each library has its own switch: MKL (fp32 torch.matmul) ignores the other two.
ISA       ?=
ifeq ($(ISA),avx2)
export ONEDNN_MAX_CPU_ISA := AVX2
export ATEN_CPU_CAPABILITY := avx2
export MKL_ENABLE_INSTRUCTIONS := AVX2
endif

.PHONY: help venv test unit nbtest browser-test report cost rehearse rehearse-workers lab bench bench-concurrency docs strip export check-notebooks clean

help:
	@echo "make report [PROFILE=smoke|cpu|gpu|full] [ONLY='01 04'] [FORCE=1]  regenerate reports/<profile>/index.html"
	@echo "make report PROFILE=full WORKERS=8                   the same, each run.map's fits on 8 GPUs at once (Ray)"
	@echo "make cost [PROFILE=full] [WORKERS=8]                 a profile's training runs, FLOPs, H100 time, wall time on N GPUs"
	@echo "make test [ISA=avx2]                                 unit tests + notebooks under nbval (smoke)"
	@echo "make browser-test                                    every notebook run in JupyterLab in Chromium; a moved report"
	@echo "make rehearse                                        the full profile at toy sizes on the CPU (stand-ins)"
	@echo "make rehearse-workers                                after it: 04 and 06 again on 2 Ray workers, records equal"
	@echo "make lab                                             JupyterLab in the project environment"
	@echo "make bench                                           speed benchmarks, native and AVX2-capped -> BENCHMARKS.md"
	@echo "make docs                                            README.md's and BENCHMARKS.md's numbers from the committed records"
	@echo "make strip                                           strip outputs from notebooks/*.ipynb"
	@echo "make export                                          notebooks' #| export cells -> picseq_lessons/"

# The kernel every notebook runs on (JupyterLab, papermill, nbval): this environment's Python, with OpenMP threads
# that sleep while they wait, so two picseq processes on one machine share its cores instead of starving each other.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (picseq)" \
		--env GOMP_SPINCOUNT 30000 > /dev/null
	$(PY) -m tools.nbtools install-filter
	touch $(STAMP)

venv: $(STAMP)

test: unit nbtest

unit: $(STAMP)
	$(PY) -m pytest tests

# Fresh smoke checkpoints so the notebooks really train under nbval instead of resuming.
nbtest: $(STAMP)
	rm -rf checkpoints/smoke
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --timeout=900 -p no:cacheprovider notebooks/

# JupyterLab in a real browser (Playwright driving the system's Chromium: apt-get install chromium): every notebook
# opened, Run All, saved and checked (tests/test_browser.py); then the newest report, moved, must show every image.
# Screenshots and per-notebook counts in reports/browser/.
browser-test: $(STAMP)
	$(PY) -m pytest -m browser -p no:cacheprovider --timeout=2400 tests/test_browser.py

# The GPU cost estimate first; an estimate that fails only warns.
report: $(STAMP)
	@$(PY) -m benchmarks.cost --profile $(PROFILE) || echo "warning: the GPU cost estimate failed (make cost PROFILE=$(PROFILE)); the report runs anyway"
	$(PY) -m picseq_utils.report --profile $(PROFILE) $(if $(ONLY),--only $(ONLY)) $(if $(FORCE),--force)

# What a profile will train (images x epochs per notebook), its FLOPs and the time on one H100: python -m benchmarks.cost
cost: $(STAMP)
	$(PY) -m benchmarks.cost --profile $(PROFILE)

# The full profile rehearsed on the CPU: every notebook with full.yaml's values and only sizes made small,
# on stand-ins in the real data sets' layout; the ImageNet weights of ResNet-18 present, ViT/DeiT absent.
REHEARSAL := data/rehearsal
rehearse: $(STAMP)
	$(PY) -m picseq_utils.data rehearsal --root $(REHEARSAL)
	TORCH_HOME=$(abspath $(REHEARSAL))/torch HF_HOME=$(abspath $(REHEARSAL))/huggingface HF_HUB_OFFLINE=1 \
		$(PY) -m picseq_utils.report --profile rehearsal --force
	$(PY) -m benchmarks.cost --check rehearsal

# The rehearsal's notebooks with run.map loops once more, on 2 local Ray workers and from fresh checkpoints: each
# metrics record must equal the sequential rehearsal's (times left out). Run after `make rehearse`.
MAPPED := 04_vit_vs_resnet_cifar10 06_idmm_small_data_pretraining
rehearse-workers: $(STAMP)
	rm -rf reports/rehearsal-sequential && mkdir -p reports/rehearsal-sequential
	for nb in $(MAPPED); do cp reports/rehearsal/metrics/$$nb.json reports/rehearsal-sequential/ && \
		rm -rf checkpoints/rehearsal/$$nb || exit 1; done
	PICSEQ_WORKERS=2 TORCH_HOME=$(abspath $(REHEARSAL))/torch HF_HOME=$(abspath $(REHEARSAL))/huggingface \
		HF_HUB_OFFLINE=1 $(PY) -m picseq_utils.report --profile rehearsal --force --only $(foreach nb,$(MAPPED),$(firstword $(subst _, ,$(nb))))
	for nb in $(MAPPED); do $(PY) -m picseq_utils.results compare reports/rehearsal-sequential/$$nb.json \
		reports/rehearsal/metrics/$$nb.json || exit 1; done

lab: $(STAMP)
	$(PY) -m jupyter lab notebooks/

# Both instruction-set settings, each in its own process (the caps are read when torch starts; each process measures
# its own peak). The capped run times the training rows only, to keep both within ~15 minutes on 2 cores.
bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)
	ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 $(PY) -m benchmarks --only train $(BENCH_ARGS)

# The numbers in README.md and BENCHMARKS.md come from committed records: results/<profile>/*.json (written by a
# canonical cpu/gpu/full run), results/cost/*.json (the GPU cost estimates, written here) and benchmarks/results/.
# Two picseq runs on one machine, each against itself alone, with OpenMP's waiting threads spinning and sleeping.
bench-concurrency: $(STAMP)
	$(PY) -m benchmarks.concurrency

docs: $(STAMP)
	$(PY) -m benchmarks.cost --profile full --write > /dev/null
	$(PY) -m benchmarks.cost --profile gpu --write > /dev/null
	$(PY) -m tools.docs

strip: $(STAMP)
	$(PY) -m tools.nbtools strip notebooks/*.ipynb

# The `#| export` cells of each notebook -> picseq_lessons/<topic>.py (the method's one source of truth).
export: $(STAMP)
	$(PY) -m tools.nbtools export notebooks/*.ipynb

check-notebooks: $(STAMP)
	$(PY) -m tools.nbtools check notebooks/*.ipynb

clean:
	rm -rf reports checkpoints figures/smoke figures/cpu figures/rehearsal data/rehearsal
