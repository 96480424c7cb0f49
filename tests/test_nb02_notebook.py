"""Notebook 02 run in-process at tiny size: RoPE swapped for no position encoding, a user's non-square clip folder
(issue 16), and a run that fails half way leaving the last good run's metrics byte-identical."""
import json

import pytest

from notebook_runner import run_notebook
from picseq_utils.data.clips import ClipFolderError
from test_clips import write_real_world_folder

NB = "02_resnet_embedded_transformer"
TINY = dict(device="cpu", n_clips=8, frame_size=32, copies=2, folds=2, ablation_folds=1, epochs=1, batch_size=8,
            lr=1e-3, imagenet_weights=False, recipe_clips=4, recipe_copies=1, recipe_epochs=1, recipe_runs=1,
            speed_epochs=1, speed_clips=4, resume=False)
NO_ROPE = '''
def apply_rope(x, positions):
    """No position encoding: q and k are left as they are."""
    return x
'''


def metrics(ns) -> dict:
    return {m["name"]: m for m in ns["run"].writer.content["metrics"]}


@pytest.mark.exercise(NB, 2)
def test_rope_replaced_by_no_position_encoding_removes_position_information(tmp_project):
    before = metrics(run_notebook(NB, params=TINY, stop_after="attention_check", project=tmp_project))
    assert before["rope_offset_spread"]["value"] > 0.1 and before["attention_order_sensitivity"]["value"] > 1e-3
    assert before["rope_vs_timm_max_diff"]["value"] < 1e-5 and before["encoder_vs_torch_max_diff"]["value"] < 1e-5
    ns = run_notebook(NB, params=TINY, replace={"rope": NO_ROPE}, project=tmp_project)
    after = metrics(ns)
    assert after["rope_offset_spread"]["value"] < 1e-5, "scores no longer depend on the frame offset"
    assert after["attention_order_sensitivity"]["value"] < 1e-5, "the encoder no longer knows which frame is which"
    assert after["rope_vs_timm_max_diff"]["value"] > 0.1, "the check against timm catches the change"
    assert "seed000_recipe_val_acc" in after and ns["run"].writer.path.is_file(), "the whole notebook still ran"


def test_a_users_non_square_folder_runs_through_02_and_is_kept_apart(tmp_project):
    folder = write_real_world_folder(tmp_project / "my_clips", h=48, w=80, clips=4)
    ns = run_notebook(NB, params={**TINY, "clips_folder": str(folder), "recipe_clips": 0, "speed_clips": 0},
                      project=tmp_project)  # 0 = all clips, as in the full profile
    assert tuple(ns["clipset"].clips.shape) == (8, 8, 3, 32, 32), "frames resized to frame_size x frame_size"
    assert ns["augmented"].shape[-2:] == (32, 32)
    assert "48x80 (8 clips) -> 32x32" in "\n".join(ns["clipset"].notes)
    path = ns["run"].writer.path
    assert path.name.startswith(f"{NB}@clips_folder-") and json.loads(path.read_text())["status"] == "complete"
    assert not (path.parent / f"{NB}.json").exists(), "the report's own metrics file is not touched"
    assert json.loads(path.read_text())["data"][ns["clipset"].provenance.dataset]["kind"] == "real"
    kept = [p.name for p in (tmp_project / "checkpoints" / "smoke").iterdir()]
    assert kept == [path.stem], "checkpoints kept per data: checkpoints/smoke/<notebook>@<variant>/"
    assert [p.name for p in (tmp_project / "figures" / "smoke").iterdir()] == [path.stem], "and so are its figures"


def test_a_run_that_fails_half_way_leaves_the_last_good_metrics_byte_identical(tmp_project):
    good = run_notebook(NB, params=TINY, project=tmp_project)["run"].writer.path
    assert good.name.startswith(f"{NB}@experiment-"), "tiny parameters: an experiment, kept apart"
    before = good.read_bytes()
    with pytest.raises(RuntimeError, match="the disk filled up"):
        run_notebook(NB, params={**TINY, "seed": 1}, replace={"leaky": 'raise RuntimeError("the disk filled up")'},
                     project=tmp_project)
    assert good.read_bytes() == before
    broken = write_real_world_folder(tmp_project / "broken", clips=2, frames=8)
    next((broken / "success" / "take1").glob("frame7.*")).unlink()  # a clip with 7 frames
    with pytest.raises(ClipFolderError, match="success/take1 has 7 frames, but the model takes 8"):
        run_notebook(NB, params={**TINY, "clips_folder": str(broken)}, project=tmp_project)
    assert good.read_bytes() == before
    assert sorted(p.name for p in good.parent.glob("*.json")) == [good.name], "no metrics file for the failed runs"
