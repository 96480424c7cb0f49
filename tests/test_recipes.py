"""The seeds' recipes as data (issue 20, item 4): every entry cites its section or says it is assumed, and no
recorded run of a recipe contradicts its table without listing the difference."""
import pytest

from picseq_utils.recipes import RecipeError, Translated, all_claims, load_seeds, seeds_file
from picseq_utils.results import load_results

NOTEBOOKS = ["02_resnet_embedded_transformer", "03_vit_anatomy", "04_vit_vs_resnet_cifar10",
             "05_vit_vs_resnet_cifar100_cutmix", "06_idmm_small_data_pretraining"]


def unlisted_contradictions(metric: dict) -> list[str]:
    """Entries whose recorded value contradicts the recipe table without appearing among the differences."""
    context = metric.get("context") or {}
    seed, name = context["recipe"].removeprefix("seed ").split(": ", 1)
    owner = next(n for n in NOTEBOOKS if seed in load_seeds(n))
    recipe = load_seeds(owner)[seed]["recipes"][name]
    listed = {row["what"] for row in context.get("differences", [])}
    used = context.get("used") or {}
    return [key for key, entry in recipe.entries.items()
            if (key not in used or used[key] != entry.value) and key not in listed]


def test_every_entry_cites_the_seed_or_says_it_is_assumed():
    claims = all_claims()
    assert {c["seed"] for c in claims} == {"000", "001", "002", "003", "004"}
    for notebook in NOTEBOOKS:
        for seed in load_seeds(notebook).values():
            for recipe in seed["recipes"].values():
                for key, entry in recipe.entries.items():
                    assert entry.section or (entry.assumed and entry.note), f"{notebook} {recipe.name} {key}"


def test_a_recipe_file_without_a_citation_is_refused(tmp_project):
    seeds_file("04_vit_vs_resnet_cifar10").write_text('"003":\n  recipes:\n    r:\n      lr: {value: 0.1}\n')
    with pytest.raises(RecipeError, match="cite the section"):
        load_seeds("04_vit_vs_resnet_cifar10")


def test_the_check_finds_a_contradiction_that_is_not_listed():
    recipe = load_seeds("04_vit_vs_resnet_cifar10")["003"]["recipes"]["vit_b16"]
    used = {key: recipe[key] for key in recipe.entries}
    used.update(epochs=2, flip=Translated(False, "digits"))
    honest = {"name": "m", "context": recipe.record(used)}
    assert unlisted_contradictions(honest) == []
    typed = {"name": "m", "context": {**recipe.record(used), "differences": [{"what": "epochs"}]}}  # flip dropped
    assert unlisted_contradictions(typed) == ["flip"]


def test_no_committed_record_contradicts_its_recipe_without_saying_so():
    checked = 0
    for record in load_results():
        for metric in record["metrics"]:
            if "recipe" in (metric.get("context") or {}):
                checked += 1
                assert unlisted_contradictions(metric) == [], (record["notebook"], metric["name"])
    assert checked or not load_results(), "committed records hold recipe runs"


def test_cost_estimates_beside_the_records_are_not_read_as_notebook_records(tmp_path, monkeypatch):
    # results/cost/<profile>.json (benchmarks.cost --write) has no metrics: the record checks skip it
    import json

    import picseq_utils.results as results
    monkeypatch.setattr(results, "project_root", lambda: tmp_path)
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / "04_x.json").write_text(json.dumps({"notebook": "04_x", "metrics": []}))
    results.cost_path("full").parent.mkdir(parents=True)
    results.cost_path("full").write_text(json.dumps({"profile": "full", "fits": 1}))
    assert [r["notebook"] for r in results.load_results()] == ["04_x"]
    assert results.cost_path("full") == tmp_path / "results" / "cost" / "full.json"
