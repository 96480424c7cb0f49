"""Parameters declared once, in each notebook's parameters cell: the schema derived from it, validation (unknown
names, types, ranges), profile files.

Bad parameters tried here: a typo'd name, epochs 0 / 2.5 / True, batch size 0, fractions 0 / 1.5 / a list item
2.0, an unknown model and profile, lr NaN and 0, devices 'gpu' and 'cuda:x', an empty and a blank data_root, a
missing name with two other problems at once, an unknown notebook and profile, two malformed profile files, an
unknown photo in notebooks 01 and 03, a parameter without a type, without help, or with an unknown type.
(What papermill injects into a real notebook: test_notebook_setup.py and test_report.py.)"""
from pathlib import Path

import nbformat
import pytest

from picseq_utils import params as P
from picseq_utils.params import parameters_cell
from picseq_utils.params import ParameterError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

SPEC = P.schema_of("""
profile: Profile = "smoke"
seed: Seed = 0
device: Device = "cpu"
# epochs
epochs: Int(1) = 2
# batch
batch_size: Int(1) = 8
# learning rate
lr: Float(above=0) = 0.001
# share of the data
fraction: Fraction() = 0.5
# model
model: Choice("resnet18_cifar", "vit_cifar") = "vit_cifar"
# shares
fractions: List(Fraction()) = [0.25, 1.0]
# image size
image_size: Int(8) = 32
# patch size
patch_size: Int(1) = 4
data_root: DataRoot = "data"
""")
GOOD = dict(profile="smoke", seed=0, device="cpu", epochs=2, batch_size=8, lr=1e-3, fraction=0.5,
            model="vit_cifar", fractions=[0.25, 1.0], image_size=32, patch_size=4, data_root="data")


def test_valid_values_pass_and_numbers_are_normalised():
    for device in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert P.validate("x", {**GOOD, "device": device}, SPEC)["device"] == device
    clean = P.validate("x", {**GOOD, "lr": 1}, SPEC)
    assert clean["lr"] == 1.0 and isinstance(clean["lr"], float)
    assert clean["fractions"] == (0.25, 1.0)


@pytest.mark.parametrize("change, needle", [
    ({"epoch": 5}, "unknown parameter 'epoch' (did you mean 'epochs'?)"),
    ({"epochs": 0}, "'epochs' = 0 must be >= 1"),
    ({"batch_size": 0}, "'batch_size' = 0 must be >= 1"),
    ({"epochs": 2.5}, "has type float; expected int"),
    ({"epochs": True}, "has type bool"),
    ({"fraction": 0.0}, "must be > 0.0"),
    ({"fraction": 1.5}, "must be <= 1.0"),
    ({"fractions": [0.5, 2.0]}, "'fractions[1]' = 2.0 must be <= 1.0"),
    ({"model": "resnet50"}, "valid: 'resnet18_cifar', 'vit_cifar'"),
    ({"profile": "huge"}, "valid: 'smoke', 'cpu', 'gpu', 'full', 'rehearsal'"),
    ({"lr": float("nan")}, "must be a finite number"),
    ({"lr": 0.0}, "must be > 0"),
    ({"device": "gpu"}, "'device' = 'gpu' is not valid; expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
    ({"device": "cuda:x"}, "'device' = 'cuda:x' is not valid"),
    ({"data_root": ""}, "'data_root' = '' is not valid; expected a non-empty path"),
    ({"data_root": "  "}, "expected a non-empty path"),
])
def test_bad_values_get_a_message_naming_the_problem_and_the_valid_parameters(change, needle):
    with pytest.raises(ParameterError) as err:
        P.validate("nb", {**GOOD, **change}, SPEC)
    text = str(err.value)
    assert needle in text
    assert "Valid parameters of nb:" in text and "epochs: int, >= 1" in text


def test_missing_and_several_problems_are_reported_together():
    values = {k: v for k, v in GOOD.items() if k != "seed"}
    values.update(epochs=-1, typo=1)
    with pytest.raises(ParameterError) as err:
        P.validate("nb", values, SPEC)
    text = str(err.value)
    assert "3 parameter problem(s)" in text and "missing parameter(s) 'seed'" in text and "'typo'" in text


def test_a_schema_is_declared_in_the_parameters_cell_with_type_range_and_help():
    assert SPEC.params["lr"].doc == "learning rate" and SPEC.params["lr"].min_exclusive
    assert SPEC.params["data_root"].data and "data folder" in SPEC.params["data_root"].doc
    with pytest.raises(ParameterError, match="declares profile, seed, device"):
        P.schema_of("# epochs\nepochs: Int(1) = 2")
    common = 'profile: Profile = "smoke"\nseed: Seed = 0\ndevice: Device = "cpu"\n'
    with pytest.raises(ParameterError, match="'epochs' has no type"):
        P.schema_of(common + "# epochs\nepochs = 2")
    with pytest.raises(ParameterError, match="'epochs' has no help"):
        P.schema_of(common + "epochs: Int(1) = 2")
    with pytest.raises(ParameterError, match="not one of picseq's parameter types"):
        P.schema_of(common + "# epochs\nepochs: Integer(1) = 2")
    with pytest.raises(ValueError, match="must be a literal"):
        P.schema_of(common + "# epochs\nepochs: Int(1) = 1 + 1")


def test_unknown_notebook_and_profile_are_rejected_with_the_valid_names():
    with pytest.raises(ParameterError, match="known notebooks: 00_data_tour"):
        P.schema_for("07_nothing")
    with pytest.raises(ParameterError, match="valid: smoke, cpu, gpu, full, rehearsal"):
        P.load_profile("fast")


def test_profile_file_shape_is_checked(tmp_path):
    (tmp_path / "smoke.yaml").write_text("common: {}\nextras: 1\n")
    with pytest.raises(ParameterError, match="top-level keys"):
        P.load_profile("smoke", tmp_path)
    (tmp_path / "smoke.yaml").write_text("notebooks:\n  99_report:\n    show_figures: false\n")
    assert P.profile_parameters("smoke", "99_report", tmp_path) == {"profile": "smoke", "show_figures": False}
    (tmp_path / "smoke.yaml").write_text("notebooks:\n  98_nope: {}\n")
    with pytest.raises(ParameterError, match="unknown notebooks"):
        P.profile_parameters("smoke", "99_report", tmp_path)


def test_every_notebook_declares_its_parameters():
    assert P.notebook_names() == tuple(p.stem for p in NOTEBOOKS)
    for name in P.notebook_names():
        assert set(P.COMMON) <= set(P.schema_for(name).params)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parameters_cell_matches_its_schema_and_defaults_validate(path):
    nb = nbformat.read(str(path), as_version=4)
    defaults = parameters_cell(nb)
    spec = P.schema_for(path.stem)
    assert set(defaults) == set(spec.params) and all(p.doc for p in spec.params.values())
    assert defaults["profile"] == "smoke", "a notebook's defaults are the smoke profile"
    P.validate(path.stem, defaults)
    setup_calls = [c for c in nb.cells if c.cell_type == "code" and f'nb.setup("{path.stem}", globals())' in c.source]
    assert setup_calls, f"{path.name} must call nb.setup(\"{path.stem}\", globals()) after its parameters cell"
    index = lambda cell: nb.cells.index(cell)  # noqa: E731
    params_cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert index(setup_calls[0]) == index(params_cell) + 1


@pytest.mark.parametrize("profile", P.PROFILES)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_profile_file_gives_every_notebook_valid_parameters(profile, path):
    defaults = parameters_cell(nbformat.read(str(path), as_version=4))
    P.validate(path.stem, {**defaults, **P.profile_parameters(profile, path.stem)})


def test_full_profile_uses_real_data():
    assert P.load_profile("full")["common"]["data_source"] == "real"


def test_data_parameters_are_flagged():
    assert set(P.data_parameters("02_resnet_embedded_transformer")) == {"data_root", "clips_folder"}
    assert {"dataset", "probe_dataset"} <= set(P.data_parameters("06_idmm_small_data_pretraining"))


def test_the_photo_parameters_list_the_bundled_photographs():
    from picseq_utils.data import PHOTOS

    for notebook in ("01_clip_augmentation", "03_vit_anatomy"):
        spec = P.schema_for(notebook)
        assert tuple(spec.params["photo"].choices) == tuple(PHOTOS)
        with pytest.raises(ParameterError, match="'photo' = 'mona_lisa' is not a valid choice; valid: 'astronaut'"):
            spec.params["photo"].check("photo", "mona_lisa")


def test_a_profile_that_extends_another_overrides_only_what_it_names(tmp_path):
    (tmp_path / "full.yaml").write_text("common:\n  profile: full\n  data_source: real\n"
                                        "notebooks:\n  99_report:\n    show_figures: true\n")
    (tmp_path / "gpu.yaml").write_text("extends: full\ncommon:\n  profile: gpu\nnotebooks:\n  99_report:\n"
                                       "    show_figures: false\n")
    assert P.profile_parameters("gpu", "99_report", tmp_path) == {"profile": "gpu", "show_figures": False}
    assert P.load_profile("gpu", tmp_path)["common"]["data_source"] == "real"
    (tmp_path / "cpu.yaml").write_text("extends: cpu\n")
    with pytest.raises(ParameterError, match="must name another profile"):
        P.load_profile("cpu", tmp_path)


def test_the_rehearsal_changes_only_sizes_of_the_full_profile_and_covers_every_notebook():
    rehearsal = P.load_profile("rehearsal")
    assert rehearsal["extends"] == "full"
    assert set(rehearsal["overrides"]["common"]) <= {"profile", "data_root"}, "only where results and data go"
    full = P.load_profile("full")
    for notebook, values in rehearsal["overrides"]["notebooks"].items():
        spec = P.schema_for(notebook).params
        not_sizes = sorted(name for name in values if not spec[name].size)
        assert not not_sizes, f"{notebook}: the rehearsal may change sizes only, not {not_sizes}"
    for notebook in P.notebook_names():
        full_values = {**full["common"], **(full["notebooks"].get(notebook) or {})}
        shrunk = {**full_values, **(rehearsal["notebooks"].get(notebook) or {})}
        heavy = [n for n, p in P.schema_for(notebook).params.items() if p.size and n in full_values
                 and isinstance(full_values[n], int) and full_values[n] >= 20 and shrunk[n] == full_values[n]
                 and "epoch" in n]
        assert not heavy, f"{notebook}: the rehearsal keeps the full profile's {heavy}: give them a small size"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_is_read_by_its_notebook(path):
    """A parameter no cell (or lesson it imports) reads would be a silent no-op (and a rehearsal could not
    exercise it)."""
    import re

    cells = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"
             and "parameters" not in c.metadata.get("tags", [])]
    code = "\n".join(c.source for c in cells)
    for module in set(re.findall(r"from picseq_lessons\.(\w+) import", code)):  # read by an imported lesson
        code += (ROOT / "picseq_lessons" / f"{module}.py").read_text()
    unread = [n for n in P.schema_for(path.stem).params if n not in P.COMMON  # setup reads these
              and not re.search(rf"\b{n}\b", code)]
    assert not unread, f"{path.stem} never reads {unread}"
