"""What every notebook's first and last cells call: ``begin``, ``setup`` -> ``Run`` (validated parameters,
seeds, device, metrics), ``Run.finish``. See CONTRIBUTING.md for the cell order.

A run whose executed cells or parameters differ from the notebook as ``make report`` runs it (a cell edited in
JupyterLab, a "Try this" exercise, a parameter reassigned) is an experiment: its figures, checkpoints and metrics
go to ``<notebook>@experiment-<hash>``, never over the notebook's own (``picseq_utils.sources``)."""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import metrics, sources
from .params import ParameterError, data_parameters, notebook_defaults, profile_parameters, validate
from .paths import atomic_file, checkpoints_dir, claim_run, figures_dir, project_root, release_run, safe_name
from .runtime import environment_info, seed_everything, select_device

_BEFORE = "_picseq_names_before"

# huggingface_hub (via timm) imports tqdm.auto, which warns in kernels without ipywidgets; picseq's
# own progress bars are plain text on purpose (no widget metadata in executed notebooks).
warnings.filterwarnings("ignore", message="IProgress not found")


def begin(namespace: dict) -> None:
    """Remember the names that exist before the parameters cell runs."""
    namespace[_BEFORE] = frozenset(namespace)


def run_variant(notebook: str, params: dict) -> str | None:
    """``None`` for a run on the data its profile names; otherwise a short name for the other data (a user's
    clip folder, another data set), so that its metrics are kept apart from the report's."""
    try:
        canonical = {**notebook_defaults(project_root() / "notebooks" / f"{notebook}.ipynb"),
                     **profile_parameters(params["profile"], notebook)}
    except (OSError, ValueError, SyntaxError):  # no notebook file here (a test's project): nothing to compare
        return None
    differ = [f"{name}-{_short(params[name])}" for name in data_parameters(notebook)
              if name in canonical and params.get(name) != canonical[name]]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(differ)).strip("-.")[:80]
    return slug or None


def _short(value) -> str:
    """A path as its last folder name and a hash of the whole (two folders of one name stay apart)."""
    text = str(value)
    return text if "/" not in text else f"{Path(text).name}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


@dataclass
class Run:
    """One execution of a notebook: validated parameters, device, metrics, figures, checkpoints."""

    notebook: str
    params: dict
    device: torch.device
    writer: metrics.MetricsWriter
    namespace: dict | None = field(default=None, repr=False)
    experiment: str | None = None  # set at the first cell that makes this run differ from the notebook
    why: str = ""
    _inputs: dict = field(default_factory=dict, repr=False)
    _frozen: dict | None = field(default=None, repr=False)  # in a worker: the key and code of the notebook's run

    def _standing(self) -> tuple[bool, int, list[str] | None, str]:
        """(follows the notebook so far, notebook cells covered, executed cells, why not)."""
        try:
            cells = sources.code_cells(self.notebook)
            expected = metrics.jsonable(sources.expected_parameters(self.notebook, self.params["profile"]))
        except (OSError, ValueError, SyntaxError) as err:  # no notebook file (a script, a test's project)
            return False, 0, None, f"the notebook file cannot be read ({type(err).__name__})"
        executed = sources.executed_cells(self.namespace)
        follows, covered = sources.follows_notebook(executed, cells, self.params)
        changed = sorted(k for k, v in metrics.jsonable(self.params).items() if expected.get(k) != v)
        if executed is None:
            return False, 0, None, "the executed cells cannot be known outside a notebook kernel"
        if not follows:
            return False, covered, executed, f"code cell {covered + 1} of the notebook was changed or run out of order"
        if changed:
            return False, covered, executed, f"parameters differ from the {self.params['profile']} profile's: " + \
                ", ".join(changed)
        return True, covered, cells[:covered], ""

    def key(self) -> str:
        """Where this run's figures, checkpoints and metrics go: the notebook's own name while the run is the
        notebook as ``make report`` runs it, ``<notebook>@<variant>`` on other data, else an experiment."""
        if self._frozen:
            return self._frozen["key"]
        if self.writer.variant or self.experiment:
            return self.experiment or self.writer.key
        ok, _, executed, why = self._standing()
        if not ok:
            self.experiment = f"{self.notebook}@experiment-{sources.digest(metrics.jsonable(self.params), executed, length=8)}"
            if claim_run(self.params["profile"], self.experiment) is not None:  # the same experiment, running too
                self.experiment += f"-concurrent-{os.getpid()}"
                claim_run(self.params["profile"], self.experiment)
            self.why = why
            print(f"[picseq] this run is an experiment ({why}): its figures, checkpoints and metrics are kept apart "
                  f"as {self.experiment}; the notebook's own results are untouched")
        return self.experiment or self.writer.key

    def sync(self) -> None:
        """Take up parameters reassigned in the notebook since setup: re-validate them and record the new
        values; a parameter that decides where results go (profile, data) stops the run instead."""
        if self._frozen:  # a worker: the notebook's process has synced
            return
        ns = self.namespace or {}
        changed = {k: (v, ns[k]) for k, v in self.params.items() if k in ns and not _same(ns[k], v)}
        if not changed:
            return
        fixed = sorted(set(changed) & ({"profile"} | set(data_parameters(self.notebook))))
        if fixed:
            raise ParameterError(f"{', '.join(fixed)} changed after setup ({_changes(changed, fixed)}); these decide "
                                 f"which data this run uses and where its results go: set them in the parameters cell "
                                 f"and run the setup cell again")
        clean = validate(self.notebook, {**self.params, **{k: now for k, (_, now) in changed.items()}})
        print(f"[picseq] changed after setup: {_changes(changed, changed)}; re-validated, and recorded in this run's "
              f"metrics file")
        self.params = clean
        if "device" in changed:
            self.device = select_device(clean["device"])
        self.writer.set_parameters(clean, {k: {"was": was, "now": now} for k, (was, now) in changed.items()})

    def record(self, name: str, value: Any, *, data: Any = None, recipe=None, used: dict | None = None,
               **context) -> dict:
        """Write one metric. Its data (provenance) is every data set this run has read so far, unless ``data=`` (an
        ImageData / Provenance / data-set name) says which; the device and versions are the run's. A run of a
        seed's recipe passes ``recipe=`` (``picseq_utils.recipes``) and ``used=`` (every value it ran with): the
        differences from the seed are computed and recorded with the metric."""
        if self._in_worker("record", name, value, data=data, recipe=recipe, used=used, **context):
            return {"name": name, "value": value}
        self.sync()
        if recipe is not None:
            context.update(recipe.record(used or {}))
        if data is None:
            data = list(self.writer.content["data"])
        else:
            data = [getattr(d, "provenance", d) for d in (data if isinstance(data, (list, tuple)) else [data])]
        return self.writer.record(name, value, data=data, **context)

    def use_data(self, data):
        """Note a data set (ImageData or Provenance) in the metrics file; returns it unchanged. (A data set loaded
        while the run is on is noted by itself.)"""
        if self._in_worker("use_data", data):
            return data
        self.sync()
        self.writer.add_data(getattr(data, "provenance", data))
        return data

    def use_weights(self, name: str, description: Any) -> Any:
        if self._in_worker("use_weights", name, description):
            return description
        self.writer.add_weights(name, description)
        return description

    def save_figure(self, fig, name: str, caption: str = "", key: bool = False, dpi: int = 110) -> Path:
        """Save under ``figures/<profile>/<notebook>/<name>.png`` (``<notebook>@<variant>`` for a run on other data
        or an experiment) and list it in the metrics file; ``key`` figures lead the report's index page."""
        if self._frozen:
            raise RuntimeError("save_figure inside a function given to run.map runs on a worker: return what the "
                               "figure needs and draw it in the notebook after the map")
        self.sync()
        folder = figures_dir(self.params["profile"], self.key())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_name(name, 'figure name')}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        self.writer.add_figure(path, caption, key)
        return path

    def checkpoint_dir(self, name: str) -> Path:
        """Per-run checkpoint folder ``checkpoints/<profile>/<notebook>/<name>`` (``<notebook>@<variant>`` for a
        run on other data or an experiment). The folder remembers the code that led to it (the executed cells,
        parameters, package, lessons): checkpoints of other code are moved to ``stale/``, never resumed."""
        self.sync()
        folder = checkpoints_dir(self.params["profile"], self.key(), name)
        code = self._code()
        marker = folder / "source.txt"
        if marker.is_file() and marker.read_text().strip() != code:
            from .checkpoint import Checkpointer

            Checkpointer(folder).retire("the code or parameters before this training run changed")
        folder.mkdir(parents=True, exist_ok=True)
        if not (marker.is_file() and marker.read_text().strip() == code):  # atomic: a group's processes read it
            with atomic_file(marker, "w") as handle:
                handle.write(code + "\n")
        return folder

    def _code(self) -> str:
        """A digest of the code that leads to a training run here: executed cells, parameters, package, lessons."""
        if self._frozen:
            return self._frozen["code"]
        _, _, executed, _ = self._standing()
        return sources.digest(executed, metrics.jsonable(self.params), self._input("package"), self._input("lessons"))

    def map(self, fn, items, desc: str = "fits") -> list:
        """``[fn(item) for item in items]``, one item per worker when ``PICSEQ_WORKERS`` > 1 (a Ray task each),
        else here; each item seeded on its own, results in order (``picseq_utils.parallel``)."""
        from .parallel import map_items

        self.sync()
        return map_items(self, fn, items, desc)

    def distributed(self, train, processes: int, timeout: float | None = None):
        """``train()`` as one fit on ``processes`` GPUs (or CPU processes): torchrun starts them, ``fit`` inside
        trains with DistributedDataParallel; process 0's result (``picseq_utils.distributed``)."""
        from .distributed import launch

        self.sync()
        return launch(self, train, processes, timeout)

    def __getstate__(self) -> dict:
        """What a worker gets: this run with its key and code fixed, without the notebook's namespace and metrics
        file (a worker's records come back to this process, ``picseq_utils.parallel``)."""
        state = dict(self.__dict__)
        state["_frozen"] = self._frozen or {"key": self.key(), "code": self._code()}
        state.update(namespace=None, writer=None, _inputs={})
        return state

    def _in_worker(self, method: str, *args, **kwargs) -> bool:
        """In a worker: note a call for the notebook's process to replay (True), else False."""
        if not self._frozen:
            return False
        from .parallel import WORKER_CALLS

        WORKER_CALLS.append((method, args, kwargs))
        return True

    def _input(self, name: str) -> str:
        if name not in self._inputs:
            self._inputs[name] = {"package": sources.package_digest, "lessons": sources.lessons_digest}[name]()
        return self._inputs[name]

    def finish(self) -> Path:
        """The notebook ran to its end: its metrics replace the last good run's (atomically) if the run was the
        notebook as ``make report`` runs it; an experiment's go to its own file. A canonical run of the cpu, gpu
        or full profile also writes its committed record, ``results/<profile>/<notebook>.json``."""
        from .results import RESULT_PROFILES, write_result
        from .train import FIT_LOG

        self.sync()
        key = self.key()
        from .data import provenance

        provenance.ON_LOAD[:] = []  # data loaded from now on is not this run's
        self.writer.content["fits"] = metrics.jsonable(FIT_LOG)
        try:
            self.writer.content["source"] = {
                **sources.current_source(self.notebook, self.params["profile"], self.writer.content["data"]),
                "as_notebook": key == self.notebook, "experiment": self.experiment, "why": self.why}
        except (OSError, ValueError, SyntaxError) as err:
            self.writer.content["source"] = {"as_notebook": False, "why": f"no notebook file: {err}"}
        path = self.writer.finish(key)
        for held in (self.notebook + (f"@{self.writer.variant}" if self.writer.variant else ""), self.experiment):
            if held:
                release_run(self.params["profile"], held)
        from .parallel import shutdown

        shutdown()  # the workers of this run's maps, if any, end with it
        print(f"metrics of this run: {path}")
        if key == self.notebook and self.params["profile"] in RESULT_PROFILES:
            print(f"committed record of this run: {write_result(self.writer.content)}")
        return path


def _same(a: Any, b: Any) -> bool:
    """Equal as parameters (a list injected by papermill equals the tuple it was validated into)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    return (type(a) is type(b) or numbers) and a == b


def _changes(changed: dict, names) -> str:
    return ", ".join(f"{k} {changed[k][0]!r} -> {changed[k][1]!r}" for k in names)


def setup(notebook: str, namespace: dict, *, quiet: bool = False) -> Run:
    """Validate parameters, seed everything, choose the device, start the metrics file."""
    from .train import FIT_LOG

    if _BEFORE not in namespace:
        raise RuntimeError("call nb.begin(globals()) in a cell before the parameters cell")
    assigned = {k: v for k, v in namespace.items() if k not in namespace[_BEFORE] and not k.startswith("_")}
    params = validate(notebook, assigned)
    FIT_LOG.clear()
    seed_everything(params["seed"])
    device = select_device(params["device"])
    env = environment_info(device)
    variant = run_variant(notebook, params)
    holder = claim_run(params["profile"], notebook + (f"@{variant}" if variant else ""))
    if holder is not None:  # the same notebook is running elsewhere: this run writes apart, never over it
        variant = "_".join(filter(None, (variant, f"concurrent-{os.getpid()}")))
        print(f"[picseq] {notebook} is being run by {holder}: this run's figures, checkpoints and metrics are kept "
              f"apart as {notebook}@{variant}; the report keeps standing on that run's")
        claim_run(params["profile"], f"{notebook}@{variant}")
    writer = metrics.MetricsWriter(notebook, params["profile"], params, env, variant)
    from .data import provenance

    provenance.ON_LOAD[:] = [writer.add_data]  # every data set loaded from here on is this run's
    if not quiet:
        print(f"{notebook} | profile {params['profile']} | seed {params['seed']} | device {env['device_name']} | "
              f"torch {env['torch']} | commit {env['git_commit']}"
              + (f" | run on other data: metrics kept apart as {writer.key}" if variant else ""))
    return Run(notebook, params, device, writer, namespace)
