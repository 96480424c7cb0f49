"""Notebook parameters, declared once: in each notebook's ``parameters`` cell. Every line there is

    # one line of help (the comment above)
    epochs: Int(1, size=True) = 4

— the default (the smoke profile's value), its type and range (the annotation, built from the vocabulary below)
and its help. ``schema_for(notebook)`` reads the cell; ``notebook.setup`` validates what the cell and papermill
assigned (a typo such as ``epoch = 5`` fails, listing what is valid); the profiles in ``params/*.yaml`` only
override values. Checks that relate several parameters (a patch size that divides the image) are asserted in the
notebook cell where they matter."""
from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import nbformat
import yaml

from .paths import project_root

#: smoke: the notebooks' defaults (CPU, minutes); cpu: longer studies for a laptop; gpu: the full study's most
#: informative runs within about one H100-hour; full: the real study on one GPU; rehearsal: the full profile
#: with only sizes made small, run on the CPU on stand-ins in the real layout (``make rehearse``).
PROFILES = ("smoke", "cpu", "gpu", "full", "rehearsal")


def notebook_names() -> tuple[str, ...]:
    """The notebooks of the suite, ``notebooks/NN_topic.ipynb``, in number order."""
    return tuple(sorted(p.stem for p in (project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb")))


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
    min_items: int = 0  # for list parameters: how many elements at least
    pattern: str | None = None  # for strings: a regular expression the whole value must match
    pattern_hint: str = ""  # what the pattern means, for the message
    data: bool = False  # selects the data set: a run with another value keeps its metrics apart
    size: bool = False  # a size (images, epochs, width, depth, seeds, a fraction): what a rehearsal may shrink
    reads: Mapping[str, str] | None = None  # value -> the notebook whose results this value reads (run it first)

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
        if isinstance(value, (list, tuple)):
            if len(value) < self.min_items:
                raise ParameterError(f"{said} needs at least {self.min_items} element(s)")
            if self.item is not None:
                value = type(value)(self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value))
        return value

    def describe(self) -> str:
        return (" or ".join(k.__name__ for k in self.kinds)
                + (f" of {self.item.describe()}" if self.item is not None else "")
                + (f" in {{{', '.join(map(repr, self.choices))}}}" if self.choices is not None else "")
                + (f", {'>' if self.min_exclusive else '>='} {self.min}" if self.min is not None else "")
                + (f", <= {self.max}" if self.max is not None else "")
                + (f", at least {self.min_items}" if self.min_items else "")
                + (f" ({self.pattern_hint})" if self.pattern_hint else ""))


# The vocabulary of the annotations in a parameters cell.
def Int(min: int | None = None, max: int | None = None, *, size: bool = False) -> Param:
    """An integer in [min, max]; ``size``: a size a rehearsal may shrink (images, epochs, widths, seeds)."""
    return Param(int, min=min, max=max, size=size)


def Float(min: float | None = None, max: float | None = None, *, above: float | None = None) -> Param:
    """A number in [min, max], or above ``above`` (exclusive)."""
    return Param(float, min=above if above is not None else min, max=max, min_exclusive=above is not None)


def Fraction(*, size: bool = False) -> Param:
    """A share in (0, 1]."""
    return Param(float, min=0.0, max=1.0, min_exclusive=True, size=size)


def Choice(*values: Any, data: bool = False, reads: Mapping[str, str] | None = None) -> Param:
    """One of ``values``; ``data``: it selects the data set; ``reads``: a value that reads another notebook's
    results (that notebook runs first in a report)."""
    kinds = tuple(dict.fromkeys(type(v) for v in values))
    return Param(kinds if len(kinds) > 1 else kinds[0], choices=values, data=data, reads=reads)


def Text(*, data: bool = False) -> Param:
    """Any string (a folder of one's own clips, say); ``data``: it selects the data set."""
    return Param(str, data=data)


def List(item: Param, *, size: bool = False, min_items: int = 0) -> Param:
    """A list of ``item``."""
    return Param((list, tuple), item=item, size=size, min_items=min_items)


def Optimizer() -> Param:
    """One of the optimisers ``fit`` knows."""
    from .train import OPTIMIZERS

    return Param(str, choices=OPTIMIZERS)


def Photo() -> Param:
    """One of the bundled photographs (``picseq_utils.data.PHOTOS``)."""
    from .data.photos import PHOTOS

    return Param(str, choices=tuple(PHOTOS))


def DataSource() -> Param:
    from .data.provenance import SOURCES

    return Param(str, "where the data comes from: 'real', 'standin' or 'auto' (real if present or downloadable, "
                      "else the stand-in)", choices=SOURCES, data=True)


Bool = Param(bool)
Profile = Param(str, "which profile's values these are (papermill injects a profile's)", choices=PROFILES)
Seed = Param(int, "seed for every random generator", min=0)
Device = Param(str, "where to compute: auto (a GPU if there is one), cpu, cuda, cuda:N or mps",
               pattern=r"auto|cpu|mps|cuda(:\d+)?", pattern_hint="'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
DataRoot = Param(str, "data folder, relative to the project root or absolute", pattern=r"\s*\S.*",
                 pattern_hint="a non-empty path", data=True)
VOCABULARY = {"Int": Int, "Float": Float, "Fraction": Fraction, "Choice": Choice, "Text": Text, "List": List,
              "Bool": Bool, "Optimizer": Optimizer, "Photo": Photo, "Profile": Profile, "Seed": Seed,
              "Device": Device, "DataRoot": DataRoot, "DataSource": DataSource}
#: What every notebook declares.
COMMON = ("profile", "seed", "device")


@dataclass(frozen=True)
class Schema:
    """A notebook's declared parameters (from its parameters cell)."""

    params: Mapping[str, Param]

    def after(self, values: Mapping[str, Any]) -> tuple[str, ...]:
        """The notebooks whose results this one reads under ``values`` (a report runs them first)."""
        return tuple(p.reads[values[n]] for n, p in self.params.items() if p.reads and values.get(n) in p.reads)


def _parameters_source(nb) -> str:
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0].source


def _declarations(source: str):
    """(name, annotation source or None, literal value, help) for every line of a parameters cell."""
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, annotation = node.target.id, ast.get_source_segment(source, node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation = node.targets[0].id, None
        else:
            raise ValueError(f"the parameters cell may only hold `name: Type = literal` lines (help in a comment "
                             f"above); line {node.lineno} is not one")
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"parameter {name!r}: its default must be a literal (line {node.lineno})") from None
        above, i = [], node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            above.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        yield name, annotation, value, " ".join(above)


def _annotation(text: str):
    """``Int(1, 16, size=True)``, ``List(Fraction())`` or ``Bool``: names of ``VOCABULARY`` called with literals or
    other such types. Read from the syntax tree, never evaluated: a parameters cell is data."""
    def value(node):
        if isinstance(node, ast.Name) and node.id in VOCABULARY:
            return VOCABULARY[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in VOCABULARY:
            return VOCABULARY[node.func.id](*map(value, node.args), **{k.arg: value(k.value) for k in node.keywords})
        return ast.literal_eval(node)

    return value(ast.parse(text, mode="eval").body)


def schema_of(source: str, where: str = "the parameters cell") -> Schema:
    """The schema a parameters cell declares: each annotation evaluated in ``VOCABULARY``, its help attached."""
    params = {}
    for name, annotation, _, help_text in _declarations(source):
        if annotation is None:
            raise ParameterError(f"{where}: parameter {name!r} has no type; write `{name}: Int(...) = ...` (see "
                                 f"picseq_utils.params)")
        try:
            param = _annotation(annotation)
        except Exception as err:  # noqa: BLE001 - the message names the line
            raise ParameterError(f"{where}: the type of {name!r}, `{annotation}`, is not one of picseq's parameter "
                                 f"types ({', '.join(VOCABULARY)}): {err}") from None
        if not isinstance(param, Param):
            param = param()
        if not (help_text or param.doc):
            raise ParameterError(f"{where}: parameter {name!r} has no help: write one line of it as a comment above")
        params[name] = replace(param, doc=help_text or param.doc)
    missing = [n for n in COMMON if n not in params]
    if missing:
        raise ParameterError(f"{where}: every notebook declares {', '.join(COMMON)}; missing {missing}")
    return Schema(params)


@lru_cache(maxsize=32)
def _schema_cached(path: str, mtime: float) -> Schema:
    return schema_of(_parameters_source(nbformat.read(path, as_version=4)), f"{Path(path).name}, parameters cell")


def schema_for(notebook: str) -> Schema:
    path = project_root() / "notebooks" / f"{notebook}.ipynb"
    if not path.is_file():
        raise ParameterError(f"unknown notebook {notebook!r}; known notebooks: {', '.join(notebook_names())}")
    return _schema_cached(str(path), path.stat().st_mtime)


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
    if problems:
        valid = "\n".join(f"  {n}: {p.describe()}" + (f" - {p.doc}" if p.doc else "") for n, p in spec.params.items())
        raise ParameterError(
            f"{notebook}: {len(problems)} parameter problem(s):\n  - " + "\n  - ".join(problems)
            + f"\nValid parameters of {notebook}:\n{valid}")
    return clean


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
    unknown = set(content["notebooks"]) - set(notebook_names())
    if unknown:
        raise ParameterError(
            f"params/{profile}.yaml names unknown notebooks {sorted(unknown)}; known: {', '.join(notebook_names())}")
    values = {**content["common"], **(content["notebooks"].get(notebook) or {}), "profile": profile}
    names = set(schema_for(notebook).params)
    return {k: v for k, v in values.items() if k in names or k in (content["notebooks"].get(notebook) or {})}


def parameters_cell(nb) -> dict:
    """Names and literal values of the ``parameters``-tagged cell (ValueError if absent or not literal)."""
    return {name: value for name, _, value, _ in _declarations(_parameters_source(nb))}


def notebook_defaults(path: str | Path) -> dict:
    """The parameters-cell values of a notebook file."""
    return parameters_cell(nbformat.read(str(path), as_version=4))
