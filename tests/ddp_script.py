"""One fit in this process, or on 2 gloo processes with ``run.distributed``:
``python tests/ddp_script.py PROJECT OUT.json single|ddp|ddp-resume``. tests/test_distributed.py compares them."""
import json
import sys
from pathlib import Path

import torch
from torch import nn

from picseq_utils import notebook as nb
from picseq_utils import paths
from picseq_utils.data.loaders import TensorLoader
from picseq_utils.params import notebook_defaults
from picseq_utils.train import FIT_LOG, fit

paths.ROOT_OVERRIDE = Path(sys.argv[1])
OUT, MODE = Path(sys.argv[2]), sys.argv[3]

nb.begin(globals())
globals().update(notebook_defaults(paths.project_root() / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"))
device = "cpu"
run = nb.setup("04_vit_vs_resnet_cifar10", globals(), quiet=True)

torch.manual_seed(0)
images, labels = torch.randn(265, 3, 8, 8), torch.randint(0, 4, (265,))
images += labels[:, None, None, None] * 0.3  # something to learn
EPOCHS = 4


def train(stop_after=None):
    """201 training images in batches of 32: the last batch of 9 splits 5 / 4 over two processes."""
    def stop(epoch, row, model):
        if epoch == stop_after:
            raise RuntimeError(f"interrupted after epoch {epoch}")

    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 64), nn.LayerNorm(64), nn.GELU(), nn.Linear(64, 4))
    result = fit(model, TensorLoader(images[:201], labels[:201], 32, seed=0),
                 TensorLoader(images[201:], labels[201:], 64, shuffle=False), epochs=EPOCHS, lr=3e-3,
                 warmup_epochs=1.0, device="cpu", amp="off", progress=False, desc="one fit",
                 checkpoint_dir=run.checkpoint_dir("one_fit"), on_epoch_end=stop)
    run.record("final_train_loss", result.final["train_loss"])
    return {"history": result.history[["train_loss", "train_acc", "val_loss", "val_acc"]].to_dict("list"),
            "resumed_from": result.resumed_from, "weights": [p.detach().sum().item() for p in model.parameters()]}


if MODE == "single":
    result = train()
elif MODE == "ddp":
    result = run.distributed(train, processes=2)
else:
    try:
        run.distributed(lambda: train(stop_after=2), processes=2)
        raise SystemExit("the interrupted fit did not stop")
    except RuntimeError as err:
        assert "interrupted after epoch 2" in str(err), err
    result = run.distributed(train, processes=2)
metrics = [{k: m[k] for k in ("name", "value")} for m in run.writer.content["metrics"]]
fits = [{k: v for k, v in f.items() if k not in ("seconds",)} for f in FIT_LOG]
OUT.write_text(json.dumps({"result": result, "metrics": metrics, "fits": fits}))
