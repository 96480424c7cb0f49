"""The source documents' recipes and claims as data: ``notebooks/<notebook>.seeds.yaml``, beside the notebook that
runs them. Each entry is what the seed's text states, with the section it is stated in, or ``assumed`` where the
text is silent. A notebook configures a seed's run from its recipe, then records the values the run actually used;
what differs from the recipe is computed here, never typed (``Recipe.differs``).

A value a run had to change with its scale is passed as ``Translated(value, why)`` (4 px of crop padding at 32 px
is an eighth of the image: 1 px at 8 px; no flips for digits): it is listed among the differences, with the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .paths import project_root


class RecipeError(ValueError):
    """A recipe file, or what a run says it used, does not fit the recipe."""


@dataclass(frozen=True)
class Entry:
    value: Any
    section: str = ""
    assumed: bool = False  # the seed's text is silent; this table's choice, and why, in ``note``
    note: str = ""


@dataclass(frozen=True)
class Translated:
    """A value changed with the run's scale, and why (listed among the differences)."""

    value: Any
    why: str


def plain(value: Any) -> Any:
    """The value itself, translated or not."""
    return value.value if isinstance(value, Translated) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return " x ".join(_show(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Recipe:
    seed: str
    name: str
    entries: dict

    def __getitem__(self, key: str) -> Any:
        if key not in self.entries:
            raise RecipeError(f"seed {self.seed}'s recipe {self.name!r} has no entry {key!r}; entries: "
                              f"{', '.join(self.entries)}")
        return self.entries[key].value

    def differs(self, used: dict) -> list[dict]:
        """Every entry whose used value is not the stated one: what, used, stated, section, why (a translation)."""
        missing, unknown = set(self.entries) - set(used), set(used) - set(self.entries)
        if missing or unknown:
            raise RecipeError(f"what a run of seed {self.seed}'s recipe {self.name!r} used must name every entry of the "
                              f"recipe: missing {sorted(missing)}, unknown {sorted(unknown)}")
        rows = []
        for key, entry in self.entries.items():
            value = used[key]
            why = value.why if isinstance(value, Translated) else ""
            value = plain(value)
            if not _same(value, entry.value) or why:
                rows.append({"what": key, "used": value, "stated": entry.value, "section": entry.section,
                             "assumed": entry.assumed, "translated": why})
        return rows

    def record(self, used: dict) -> dict:
        """The context a metric of this recipe's run carries: the recipe, the values used, and the computed
        differences (``differs``, a sentence for tables, and ``differences``, the rows)."""
        rows = self.differs(used)
        return {"recipe": f"seed {self.seed}: {self.name}", "used": {k: plain(v) for k, v in used.items()},
                "differences": rows,
                "differs": "; ".join(describe(r) for r in rows) or "nothing in the recipe",
                "assumed": [k for k, e in self.entries.items() if e.assumed]}

    def stated(self) -> str:
        """The recipe as one line (the report's "the seed's conditions")."""
        return "; ".join(f"{k} {_show(e.value)}" + (" (assumed)" if e.assumed else f" ({e.section})" if e.section else "")
                         for k, e in self.entries.items())


def describe(row: dict) -> str:
    text = f"{row['what']}: {_show(row['used'])} (seed: {_show(row['stated'])}"
    text += ", assumed)" if row["assumed"] else (f", {row['section']})" if row["section"] else ")")
    return text + (f" — translated: {row['translated']}" if row["translated"] else "")


def seeds_file(notebook: str) -> Path:
    return project_root() / "notebooks" / f"{notebook}.seeds.yaml"


def load_seeds(notebook: str) -> dict:
    """``{seed: {"source", "claims", "recipes": {name: Recipe}}}`` of a notebook ({} if it runs no seed)."""
    path = seeds_file(notebook)
    if not path.is_file():
        return {}
    content = yaml.safe_load(path.read_text()) or {}
    seeds = {}
    for seed, spec in content.items():
        seed = str(seed)
        recipes = {}
        for name, entries in (spec.get("recipes") or {}).items():
            parsed = {}
            for key, entry in entries.items():
                if not isinstance(entry, dict) or "value" not in entry:
                    raise RecipeError(f"{path}: seed {seed}, recipe {name}, entry {key}: expected a mapping with 'value' "
                                      f"and 'section' (or 'assumed: true' with a 'note')")
                if not entry.get("section") and not entry.get("assumed"):
                    raise RecipeError(f"{path}: seed {seed}, recipe {name}, entry {key}: cite the section that states "
                                      f"it, or mark it 'assumed: true' and say why in 'note'")
                parsed[key] = Entry(entry["value"], str(entry.get("section", "")), bool(entry.get("assumed")),
                                    str(entry.get("note", "")))
            recipes[name] = Recipe(seed, name, parsed)
        claims = [{**claim, "seed": seed, "notebook": notebook} for claim in spec.get("claims") or []]
        for claim in claims:
            if claim.get("recipe") and claim["recipe"] not in recipes:
                raise RecipeError(f"{path}: seed {seed}'s claim on {claim['metric']} names the recipe "
                                  f"{claim['recipe']!r}, which the file does not define")
        seeds[seed] = {"source": spec.get("source", ""), "claims": claims, "recipes": recipes}
    return seeds


def seed_recipes(notebook: str, seed: str) -> dict[str, Recipe]:
    """The recipes of one seed in ``notebooks/<notebook>.seeds.yaml``, by name."""
    seeds = load_seeds(notebook)
    if seed not in seeds:
        raise RecipeError(f"{seeds_file(notebook)} has no seed {seed!r}; it has {', '.join(seeds) or 'none'}")
    return seeds[seed]["recipes"]


def seed_claims(notebook: str, seed: str) -> list[dict]:
    """What one seed claims in ``notebooks/<notebook>.seeds.yaml`` (metric, value, unit, kind, section, recipe)."""
    return load_seeds(notebook).get(seed, {}).get("claims", [])


def recipe_table(recipes: dict[str, Recipe]):
    """The recipes side by side, one row per entry, with the section that states it (for a notebook cell)."""
    import pandas as pd

    keys = list(dict.fromkeys(k for r in recipes.values() for k in r.entries))
    rows = []
    for key in keys:
        entries = [r.entries.get(key) for r in recipes.values()]
        cited = next(e for e in entries if e is not None)
        rows.append({"entry": key, **{name: _show(e.value) if e else "" for name, e in zip(recipes, entries)},
                     "stated in": "assumed: " + cited.note if cited.assumed else cited.section})
    return pd.DataFrame(rows).set_index("entry")


def all_claims() -> list[dict]:
    """Every notebook's seed claims, each with its recipe line (``conditions``), in notebook order."""
    claims = []
    for path in sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.seeds.yaml")):
        notebook = path.name.removesuffix(".seeds.yaml")
        for seed in load_seeds(notebook).values():
            for claim in seed["claims"]:
                stated = seed["recipes"][claim["recipe"]].stated() if claim.get("recipe") else ""
                claims.append({**claim, "source": seed["source"], "conditions": claim.get("conditions", stated)})
    return claims
