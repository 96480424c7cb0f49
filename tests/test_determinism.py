"""The same seed on the CPU gives identical metrics twice, for a short fit of ResNet-18 and the CIFAR ViT
(the clip model and IDMM: their notebooks' test files)."""
import pandas as pd
import pytest
from training_helpers import COMPARED, quick_fit


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_same_seed_gives_identical_metrics_twice(family):
    a, b = quick_fit(family), quick_fit(family)
    pd.testing.assert_frame_equal(a.history[COMPARED], b.history[COMPARED])
