"""A run is data: one `RunConfig` names dataset, method, backbone, augmentations, budget and seed.

The same config runs from the UI, the CLI and the tests and is stored as config.json in the run
directory. `RunConfig.from_dict` rejects unknown fields and `validate` rejects bad values, each
with a one-line `ConfigError` that names the field.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from sslviz.core.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HOLDOUTS = ("test", "validation")


@dataclass
class RunConfig:
    method: str = "simclr"
    dataset: str = "shapes"
    backbone: str = "auto"  # auto: the recipe for this kind of data (sslviz/training/recipes.py)
    epochs: int = 10
    time_budget: float | None = None  # seconds of wall clock; training stops at whichever comes first
    batch_size: int | None = None  # None: the recipe's (sslviz/training/recipes.py; 256 unless it says otherwise)
    lr: float | None = None  # None: the method's default
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto (bf16/fp16 mixed precision on a GPU, fp32 elsewhere) | fp32 | bf16 | fp16
    compile: bool = False  # torch.compile the backbone (opt-in: compiling costs time up front)
    image_size: int | None = None  # None: the recipe's working size (sslviz/training/recipes.py; else 32)
    data_root: str | None = None
    pipeline: dict | None = None  # augment.Pipeline as a dict; None: the dataset's default
    method_params: dict = field(default_factory=dict)  # hyper-parameters of the method (temperature, ...)
    labels_per_class: int | None = None  # supervised baseline with few labels
    snapshot_every: int = 1  # save test-set embeddings every N epochs (for the embedding explorer)
    eval_train_max: int = 5000  # size of the kNN memory bank for the live monitor
    eval_test_max: int = 2000  # test images scored by the live monitor
    name: str = ""
    owner: str = ""  # who started it (a browser session or user name), for per-student limits
    final_scores: bool = True  # at the end, the papers' protocol on the whole splits (training/final_scores.py)
    # what the run is scored on: "test" (the dataset's test split, the figures a user reports) or
    # "validation" (a stratified fifth of the training images, trained on the other four fifths: what
    # budgets and recipes are chosen on, so the test images stay unseen by every choice; bench/recipe_search.py)
    holdout: str = "test"

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"config: unknown field '{unknown[0]}'")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "RunConfig":
        def positive_int(name: str, value) -> None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name}: must be a whole number ≥ 1, got {value!r}")

        positive_int("epochs", self.epochs)
        if self.batch_size is not None:
            positive_int("batch_size", self.batch_size)
        if self.image_size is not None:
            positive_int("image_size", self.image_size)
        positive_int("snapshot_every", self.snapshot_every)
        positive_int("eval_train_max", self.eval_train_max)
        positive_int("eval_test_max", self.eval_test_max)
        if self.batch_size is not None and self.batch_size < 2:
            raise ConfigError("batch_size: must be at least 2 (contrastive methods compare images in a batch)")
        if self.image_size is not None and not 8 <= self.image_size <= 512:
            raise ConfigError(f"image_size: must be between 8 and 512, got {self.image_size}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr: must be a positive number, got {self.lr!r}")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay: must be ≥ 0, got {self.weight_decay!r}")
        if self.time_budget is not None and not (
            isinstance(self.time_budget, (int, float)) and math.isfinite(self.time_budget) and self.time_budget > 0
        ):
            raise ConfigError(f"time_budget: must be a positive number of seconds, got {self.time_budget!r}")
        if self.labels_per_class is not None:
            positive_int("labels_per_class", self.labels_per_class)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed: must be a whole number, got {self.seed!r}")
        if not isinstance(self.method_params, dict):
            raise ConfigError("method_params: must be a mapping of name to value")
        from sslviz.methods import method_names

        if self.method not in method_names():
            raise ConfigError(f"method: unknown '{self.method}'; choose one of {', '.join(method_names())}")
        from sslviz.methods.models import BACKBONES

        if self.backbone != "auto" and self.backbone not in BACKBONES:
            raise ConfigError(f"backbone: unknown '{self.backbone}'; choose one of {', '.join(BACKBONES)}")
        if self.device != "auto" and self.device not in ("cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device: unknown '{self.device}'; use auto, cpu, cuda or mps")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision: unknown '{self.precision}'; use {', '.join(PRECISIONS)}")
        if self.holdout not in HOLDOUTS:
            raise ConfigError(f"holdout: unknown '{self.holdout}'; use {' or '.join(HOLDOUTS)}")
        if not isinstance(self.final_scores, bool):
            raise ConfigError(f"final_scores: must be true or false, got {self.final_scores!r}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile: must be true or false, got {self.compile!r}")
        if self.pipeline is not None:
            from sslviz.augment.engine import Pipeline

            Pipeline.from_dict(self.pipeline)
        return self
