"""Notebook 01 run in-process at tiny size: its checks hold, and a learner's edit of one operation cell (the flip
replaced by the identity) shows in the augmented clips and in the check against Augmentor's PIL calls."""
import pytest
import torch

from notebook_runner import run_notebook
from test_clips import write_real_world_folder

NB = "01_clip_augmentation"
TINY = dict(device="cpu", n_clips=4, frame_size=32, expansion_copies=2, expansion_clips=0, throughput_sizes=[32],
            throughput_clips=1, consistency_checks=1, fire_rate_draws=2000)


def metrics(ns) -> dict:
    return {m["name"]: m for m in ns["run"].writer.content["metrics"]}


@pytest.mark.exercise(NB, 2)
def test_notebook_01_checks_hold_and_a_replaced_flip_shows(tmp_project):
    ns = run_notebook(NB, params=TINY, project=tmp_project)
    found = metrics(ns)
    assert found["max_mean_abs_diff_vs_augmentor_pil"]["value"] < 3, "every operation matches Augmentor's PIL call"
    assert found["consistency_max_diff_augmentor"]["value"] == 0 and found["consistency_max_diff_torchvision"]["value"] == 0
    assert abs(found["fire_rate_augmentor"]["value"] - 0.55) < 0.04 and abs(found["fire_rate_exact"]["value"] - 0.5) < 0.04
    assert ns["expanded"].shape == (8, 8, 3, 32, 32) and ns["run"].writer.path.is_file()

    edited = run_notebook(NB, params=TINY, replace={"op_flip": "def flip(frames):\n    return frames\n"},
                          project=tmp_project)
    assert edited["ours_vs_pil"]["flip"] > 20 > ns["ours_vs_pil"]["flip"], "the check flags the changed flip"
    assert not torch.equal(edited["expanded"], ns["expanded"]), "the augmented clips change"
    fired = [edited["sample_params"](32, 32, torch.Generator().manual_seed(s)).fired["flip"] for s in range(20)]
    assert any(fired), "some draws asked for a flip, which the edited cell ignored"


def test_notebook_01_on_a_users_non_square_jpeg_folder(tmp_project):
    folder = write_real_world_folder(tmp_project / "phone", h=120, w=68, kinds=("jpg",), clips=2)
    ns = run_notebook(NB, params={**TINY, "clips_folder": str(folder), "expansion_clips": 2}, project=tmp_project)
    assert tuple(ns["clipset"].clips.shape[-2:]) == (32, 32) and ns["expanded"].shape == (4, 8, 3, 32, 32)
    assert {m["name"] for m in ns["run"].writer.content["metrics"]} >= {"consistency_max_diff_augmentor",
                                                                        "consistency_max_diff_torchvision"}
    assert ns["consistency"].to_numpy().max() == 0
    assert "@clips_folder-" in ns["run"].writer.path.name
