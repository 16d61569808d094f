"""A tiny pretrained zoo for tests: two shapes entries (SimCLR and RotNet at 16 px, a few seconds of
training) built with the real builder, and the shipped experiment over them built with the real
`build_experiment` (1 seed, small pool), into one temporary folder per test process.

`use_tiny_zoo(monkeypatch)` puts the entries in the catalogue; `install_tiny_zoo(store)` installs
them (and the experiment) into a store as the app does on first start.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

_COMMON = dict(dataset="shapes", epochs=1, time_budget=2.0, batch_size=64, image_size=16, eval_train_max=300,
               eval_test_max=120, device="cpu", seed=0, owner="pretrained", final_scores=False)
TINY_ZOO = {
    "tiny-simclr-shapes": dict(_COMMON, method="simclr", name="SimCLR on shapes, tiny"),
    "tiny-rotation-shapes": dict(_COMMON, method="rotation", name="RotNet on shapes, tiny"),
}
SMALL_EXPERIMENT = dict(seeds=1, labels_per_class=[1, 10], protocols=["knn", "linear"], baselines=["pixels"],
                        pool_max=400, test_max=200)
_built: dict = {}


def use_tiny_zoo(monkeypatch) -> None:
    import sslviz.teaching.pretrained as pretrained

    for name, cfg in TINY_ZOO.items():
        monkeypatch.setitem(pretrained.CATALOG, name, cfg)


def tiny_zoo_folder() -> Path:
    """The folder with the built entries and experiment-shapes.json (built once per process)."""
    if "folder" not in _built:
        import torch

        from sslviz.teaching.pretrained.build import build_one
        from sslviz.teaching.pretrained.experiment import build_experiment

        folder = Path(tempfile.mkdtemp(prefix="sslviz-tiny-zoo-"))
        atexit.register(shutil.rmtree, folder, True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with pytest.MonkeyPatch.context() as mp:
                use_tiny_zoo(mp)
                for name in TINY_ZOO:
                    build_one(name, folder)
                _built["doc"] = build_experiment(folder, list(TINY_ZOO), folder, **SMALL_EXPERIMENT)
        finally:
            torch.set_num_threads(threads)
        _built["folder"] = folder
    return _built["folder"]


def tiny_zoo_doc() -> dict:
    tiny_zoo_folder()
    return _built["doc"]


def install_tiny_zoo(store, monkeypatch) -> dict:
    """Install the tiny zoo (and its experiment) into `store`; {name: run id}."""
    from sslviz.teaching.pretrained.install import install

    folder = tiny_zoo_folder()
    use_tiny_zoo(monkeypatch)
    errors: list = []
    new = install(store, folder=folder, log=errors.append)
    assert not errors, errors
    return new


def fake_run(store, method: str, dataset: str = "shapes", knn: float | None = None, pretrained: str | None = None,
             status: str = "completed", name: str = "", checkpoint: bool = True, few: float | None = None) -> str:
    """A run row with a summary (and an empty checkpoint file): enough for the selection rules."""
    from sslviz.training.config import RunConfig

    config = RunConfig(method=method, dataset=dataset, name=name, owner="pretrained" if pretrained else "me")
    run_id = store.create(config.to_dict(), status=status)
    summary = {k: v for k, v in (("knn_accuracy", knn), ("pretrained", pretrained), ("few_label_linear", few))
               if v is not None}
    store.update(run_id, summary=summary, progress=1.0 if status == "completed" else 0.3)
    if checkpoint:
        (store.run_dir(run_id) / "checkpoint.pt").write_bytes(b"")
    return run_id
