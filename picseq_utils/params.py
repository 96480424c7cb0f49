"""Notebook parameters: each notebook's ``PARAMS`` schema, checked by ``notebook.setup`` after papermill injects
values (a typo such as ``epoch: 5`` fails, listing what is valid), and the profiles in ``params/*.yaml``."""
from __future__ import annotations

import ast
import difflib
import importlib
import math
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import nbformat
import yaml

from .paths import project_root

#: smoke: the notebooks' defaults (CPU, minutes); cpu: longer studies for a laptop; gpu: the full study's most
#: informative runs within about one H100-hour; full: the real study on one GPU; rehearsal: the full profile
#: with only sizes made small, run on the CPU on stand-ins in the real layout (``make rehearse``).
PROFILES = ("smoke", "cpu", "gpu", "full", "rehearsal")

#: The notebooks; each one's schema is ``PARAMS`` in ``picseq_utils/schemas/s<NN>.py`` (imported lazily).
NOTEBOOK_SCHEMAS: tuple[str, ...] = (
    "00_data_tour", "01_clip_augmentation", "02_resnet_embedded_transformer", "03_vit_anatomy",
    "04_vit_vs_resnet_cifar10", "05_vit_vs_resnet_cifar100_cutmix", "06_idmm_small_data_pretraining", "99_report")


class ParameterError(ValueError):
    """A notebook parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: its type, allowed values and a one-line description."""

    kind: type | tuple[type, ...]
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: Sequence[Any] | None = None
    min_exclusive: bool = False
    item: "Param | None" = None  # for list parameters: the schema of each element
    pattern: str | None = None  # for strings: a regular expression the whole value must match
    pattern_hint: str = ""  # what the pattern means, for the message
    data: bool = False  # selects the data set: a run with another value keeps its metrics apart
    size: bool = False  # a size (images, epochs, width, depth, seeds, a fraction): what a rehearsal may shrink

    @property
    def kinds(self) -> tuple[type, ...]:
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    def check(self, name: str, value: Any) -> Any:
        if value is None:
            raise ParameterError(f"parameter {name!r} must not be None ({self.describe()})")
        if float in self.kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if tuple in self.kinds and isinstance(value, list):
            value = tuple(value)
        said = f"parameter {name!r} = {value!r}"  # the value as normalised above
        if not isinstance(value, self.kinds) or (isinstance(value, bool) and bool not in self.kinds):
            raise ParameterError(f"{said} has type {type(value).__name__}; expected {self.describe()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"{said} must be a finite number")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{said} is not a valid choice; valid: {', '.join(map(repr, self.choices))}")
        if isinstance(value, str) and self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ParameterError(f"{said} is not valid; expected {self.pattern_hint or self.pattern}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min is not None and (value < self.min or (self.min_exclusive and value == self.min)):
                raise ParameterError(f"{said} must be {'>' if self.min_exclusive else '>='} {self.min}")
            if self.max is not None and value > self.max:
                raise ParameterError(f"{said} must be <= {self.max}")
        if isinstance(value, (list, tuple)) and self.item is not None:
            value = type(value)(self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value))
        return value

    def describe(self) -> str:
        return (" or ".join(k.__name__ for k in self.kinds)
                + (f" in {{{', '.join(map(repr, self.choices))}}}" if self.choices is not None else "")
                + (f", {'>' if self.min_exclusive else '>='} {self.min}" if self.min is not None else "")
                + (f", <= {self.max}" if self.max is not None else "")
                + (f" ({self.pattern_hint})" if self.pattern_hint else ""))


# Short constructors used by the schemas: ``Int("doc", min=1)``, ``Str("doc", choices=(...))``, ...
Int = partial(Param, int)
Float = partial(Param, float)
Fraction = partial(Param, float, min=0.0, max=1.0, min_exclusive=True)  # a number in (0, 1]
Bool = partial(Param, bool)
Str = partial(Param, str)


def List(item: Param, doc: str = "", **kw) -> Param:
    return Param((list, tuple), doc, item=item, **kw)


def DataRoot(doc: str = "data folder, relative to the project root or absolute") -> Param:
    """The data folder: any non-blank path (an empty string would silently mean the project root)."""
    return Param(str, doc, pattern=r"\s*\S.*", pattern_hint="a non-empty path", data=True)


def DataSource(doc: str = "where the data comes from: 'real', 'standin' or 'auto' (real if present or "
                          "downloadable, else the stand-in)") -> Param:
    from .data.provenance import SOURCES

    return Param(str, doc, choices=SOURCES, data=True)


#: Parameters every notebook has.
COMMON: dict[str, Param] = {
    "profile": Str("which profile's settings these are", choices=PROFILES),
    "seed": Int("seed for every random generator", min=0),
    "device": Str("where to compute", pattern=r"auto|cpu|mps|cuda(:\d+)?",
                  pattern_hint="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
}


@dataclass(frozen=True)
class Schema:
    """A notebook's parameters plus checks that relate several of them."""

    params: Mapping[str, Param]
    checks: Sequence[Callable[[dict], str | None]] = field(default_factory=tuple)
    #: notebooks whose results this one reads with these parameters (the report runs them first)
    after: Callable[[dict], Sequence[str]] = lambda values: ()

    def __post_init__(self):
        missing = set(COMMON) - set(self.params)
        if missing:
            raise TypeError(f"schema lacks the common parameters {sorted(missing)}")


def schema(params: Mapping[str, Param], *checks: Callable[[dict], str | None],
           after: Callable[[dict], Sequence[str]] | None = None) -> Schema:
    """Build a schema: ``COMMON`` plus ``params``; each check returns an error text or None; ``after`` names the
    notebooks whose results the notebook reads under the given values."""
    return Schema({**COMMON, **params}, tuple(checks), after or (lambda values: ()))


def schema_for(notebook: str) -> Schema:
    if notebook not in NOTEBOOK_SCHEMAS:
        raise ParameterError(f"unknown notebook {notebook!r}; known notebooks: {', '.join(NOTEBOOK_SCHEMAS)}")
    return importlib.import_module(f"picseq_utils.schemas.s{notebook[:2]}").PARAMS


def data_parameters(notebook: str) -> list[str]:
    """The parameters that select a notebook's data (a run with other values keeps its metrics apart)."""
    return [name for name, param in schema_for(notebook).params.items() if param.data]


def validate(notebook: str, values: Mapping[str, Any], spec: Schema | None = None) -> dict:
    """Check ``values`` against the notebook's schema; return them with numbers normalised. Every problem
    (unknown, missing, wrong type, out of range) is reported together, with the valid choices."""
    spec = spec or schema_for(notebook)
    problems: list[str] = []
    for name in sorted(set(values) - set(spec.params)):
        close = difflib.get_close_matches(name, spec.params, n=1)
        problems.append(f"unknown parameter {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    missing = sorted(set(spec.params) - set(values))
    if missing:
        problems.append(f"missing parameter(s) {', '.join(map(repr, missing))}")
    clean: dict[str, Any] = {}
    for name, param in spec.params.items():
        if name in values:
            try:
                clean[name] = param.check(name, values[name])
            except ParameterError as err:
                problems.append(str(err))
    if not problems:
        problems += [message for message in (check(clean) for check in spec.checks) if message]
    if problems:
        valid = "\n".join(f"  {n}: {p.describe()}" + (f" - {p.doc}" if p.doc else "") for n, p in spec.params.items())
        raise ParameterError(
            f"{notebook}: {len(problems)} parameter problem(s):\n  - " + "\n  - ".join(problems)
            + f"\nValid parameters of {notebook}:\n{valid}")
    return clean


def divides(numerator: str, denominator: str) -> Callable[[dict], str | None]:
    """A cross-check: ``values[denominator]`` divides ``values[numerator]`` (e.g. patch size | image size)."""

    def check(values: dict) -> str | None:
        a, b = values.get(numerator), values.get(denominator)
        return f"{denominator}={b} must divide {numerator}={a}" if a is not None and b and a % b else None

    return check


def load_profile(profile: str, params_dir: str | Path | None = None) -> dict:
    """Read ``params/<profile>.yaml``: ``{"common": {...}, "notebooks": {name: {...}}}``. A file with
    ``extends: <profile>`` starts from that profile's values and overrides them (common, then per notebook)."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    path = Path(params_dir or project_root() / "params") / f"{profile}.yaml"
    if not path.is_file():
        raise ParameterError(f"no parameter file {path}; expected one per profile: {', '.join(PROFILES)}")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict) or set(content) - {"common", "notebooks", "extends"}:
        raise ParameterError(f"{path}: expected top-level keys 'common', 'notebooks' (and 'extends'), got {sorted(content)}")
    for key in ("common", "notebooks"):
        if not isinstance(content.get(key) or {}, dict):
            raise ParameterError(f"{path}: '{key}' must be a mapping")
    own = {"common": content.get("common") or {}, "notebooks": content.get("notebooks") or {}}
    base = content.get("extends")
    if base is None:
        return own
    if base == profile or base not in PROFILES:
        raise ParameterError(f"{path}: 'extends: {base}' must name another profile ({', '.join(PROFILES)})")
    parent = load_profile(base, params_dir)
    notebooks = {name: {**(parent["notebooks"].get(name) or {}), **(own["notebooks"].get(name) or {})}
                 for name in {*parent["notebooks"], *own["notebooks"]}}
    return {"common": {**parent["common"], **own["common"]}, "notebooks": notebooks, "extends": base,
            "overrides": own}


def profile_parameters(profile: str, notebook: str, params_dir: str | Path | None = None) -> dict:
    """The values papermill injects into ``notebook`` for ``profile`` (common, then per notebook)."""
    content = load_profile(profile, params_dir)
    unknown = set(content["notebooks"]) - set(NOTEBOOK_SCHEMAS)
    if unknown:
        raise ParameterError(
            f"params/{profile}.yaml names unknown notebooks {sorted(unknown)}; known: {', '.join(NOTEBOOK_SCHEMAS)}")
    values = {**content["common"], **(content["notebooks"].get(notebook) or {}), "profile": profile}
    names = set(schema_for(notebook).params)
    return {k: v for k, v in values.items() if k in names or k in (content["notebooks"].get(notebook) or {})}


def parameters_cell(nb) -> dict:
    """Names and literal values of the ``parameters``-tagged cell (ValueError if absent or not literal)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    values = {}
    for node in ast.parse(cells[0].source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"the parameters cell may only hold `name = literal` lines; line {node.lineno} is not one")
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def notebook_defaults(path: str | Path) -> dict:
    """The parameters-cell values of a notebook file."""
    return parameters_cell(nbformat.read(str(path), as_version=4))
