"""The one interface every method follows: `loss, metrics = method.step(images, labels)`.

A method is an nn.Module that owns its heads and its loss and receives a shared, swappable
backbone. `step(images, labels, index)` turns a batch of raw uint8 images (with their labels, -1
when unknown, and their positions `index` in the training set) into a scalar loss and a dict of
float metrics;
it draws its own augmented views with the same engine the teaching page shows. Everything else
(optimiser, schedule, budget, evaluation, checkpoints) belongs to the trainer.

This base class holds only what every method needs; a method file overrides `step` and, when it
needs them, the hooks `prepare` (fit something on the training images before the first
evaluation, e.g. PCA), `after_step` (e.g. momentum encoders), `on_epoch_start` (e.g. k-means
pseudo-labels), `reinitialised_parameters` (a head re-initialised there gets fresh optimiser state),
`optimizer_parameters` (e.g. a GAN's generator has its own optimiser) and `extra_state` /
`load_extra_state` (what the checkpoint needs beyond the weights, e.g. that optimiser's state).
A method with `trainable = False` (the random-init, pixels and PCA baselines) is only prepared,
evaluated and saved. `recalibrate_bn = True` asks the trainer to re-estimate the backbone's
batch-norm statistics on clean images before scoring (for methods trained on altered inputs).

A method is one file: the class also declares what the rest of the app needs to know of it, and
the app's tables are derived from the registry (sslviz/methods/__init__.py) instead of listing
names: its explainer card (`card`, read by teaching/cards.py), whether it compares views of an
image as a joint-embedding or clustering method (`joint_embedding`: its recipe then claims kNN above
raw pixels on colour images, training/recipes.py), the budget its training test runs for
(`test_budget`, tests/test_methods_learn.py), the datasets its zoo entries are built on
(`ships`, teaching/pretrained/), the parts its zoo checkpoint leaves out (`not_shipped`) and, for a
pretext method, its own task as the Pretext Tasks page shows and scores it (`pretext` and
`pretext_example`, read by teaching/answers.py and ui/pretext_views.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslviz.augment.engine import Pipeline, augment


@dataclass(frozen=True)
class MethodCard:
    """A method's explainer card: four sentences a teacher can say, and the loss as a formula.

    Written by hand, not generated from the class's longer `description` (which explains design
    choices); teaching/cards.py shows it next to the source of `loss_function`."""

    title: str
    predicts: str  # what is predicted from what
    formula: str  # LaTeX, no surrounding $
    invariance: str  # what the representation learns to ignore (or keep)
    collapse: str  # what failure looks like, and what prevents it
    loss_function: str = ""  # the pure loss function's name in the method's module ("" for baselines)


LAYOUTS = ("turns", "tiles", "positions", "paint")  # how the Pretext Tasks page draws a task (PretextTask)


@dataclass(frozen=True)
class PretextTask:
    """A pretext method's own task as the Pretext Tasks page shows it and scores a run on it.

    The page draws an example in one of a few layouts, so a new pretext method picks one and edits
    no page: "turns" (each image turned four ways, the turn under each), "tiles" (shuffled tiles and
    which order), "positions" (a centre patch, a neighbour, and where the neighbour sits), "paint"
    (what the network sees, what it must produce, its answer; `captions` says each in words).
    A task that picks a class is scored by its accuracy against `chance` (a number, or a function
    of the trained method); a painting task by its error against the lazy answer named `lazy`,
    which its example computes beside the run's. `notes` holds, per dataset name, a caveat the page
    shows first (e.g. a task that has no answer on that data)."""

    title: str
    layout: str  # turns | tiles | positions | paint
    shown: int = 6  # test images in one example
    captions: tuple[str, str, str] = ("", "", "")  # paint: what it sees, what it must produce, its answer
    chance: object = None  # float, or callable(method) -> float; None for a painting task
    lazy: str = ""  # a painting task's lazy answer, in words
    needs_colour: bool = False
    notes: tuple[tuple[str, str], ...] = ()  # (dataset name, caveat)

    @property
    def classifies(self) -> bool:
        return self.layout != "paint"

    def chance_for(self, method) -> float:
        return float(self.chance(method) if callable(self.chance) else self.chance)


class Method(nn.Module):
    # Shown by `python -m sslviz methods` and on the teaching cards.
    name: str = ""
    title: str = ""  # the name as people write it: "SimCLR", "Barlow Twins"
    family: str = ""  # pretext | contrastive | non-contrastive | clustering | generative | baseline
    paper: str = ""  # "Chen et al., 2020. A Simple Framework for Contrastive Learning... (SimCLR)"
    target: str = ""  # what the network must predict, in a few words
    description: str = ""  # one teaching paragraph: what from what, the invariance, what collapse looks like
    default_lr: float = 1e-3
    needs_labels: bool = False
    trainable: bool = True
    recalibrate_bn: bool = False  # trained on altered inputs (noisy, masked, tiles, patches)
    defaults: dict = {}  # hyper-parameters with their defaults; overridable by RunConfig.method_params
    # What the rest of the app reads off the class (module docstring):
    card: MethodCard | None = None  # None: a fallback card from the attributes above (written=False)
    joint_embedding: bool = False  # compares views of an image (contrastive, non-contrastive, clustering)
    test_budget: tuple[int, int] | None = None  # (steps, images per step) of its training test on shapes
    ships: tuple[str, ...] = ()  # datasets its zoo entry is the benchmark's run on ("shapes", "mnist-10k")
    not_shipped: tuple[str, ...] = ()  # its parts no page uses, left out of its zoo checkpoint (predictors...)
    pretext: PretextTask | None = None  # a pretext method's own task, shown live (with pretext_example)

    def __init__(self, backbone: nn.Module, *, num_classes: int, pipeline: Pipeline, **params):
        super().__init__()
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            from sslviz.core.errors import ConfigError

            raise ConfigError(f"method_params: '{unknown[0]}' is not a parameter of {self.name}")
        self.hp = {**self.defaults, **params}
        self.backbone = backbone
        self.num_classes = num_classes
        self.pipeline = pipeline
        self.generator: torch.Generator | None = None  # set by the trainer for reproducible views

    def views(self, images: torch.Tensor, pipeline: Pipeline | None = None) -> torch.Tensor:
        """One augmented view per image, float in [0, 1], channels_last."""
        x = augment(images, pipeline or self.pipeline, generator=self.generator)
        return x.contiguous(memory_format=torch.channels_last)

    def two_views(self, images: torch.Tensor) -> torch.Tensor:
        """Two independent views of every image, stacked: rows i and N + i are views of image i."""
        return self.views(torch.cat([images, images]))

    def step(self, images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def forward(self, images, labels, index):
        """forward is the step, so DistributedDataParallel can wrap a method as it is."""
        return self.step(images, labels, index)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The representation that evaluation uses: backbone features of float images."""
        return self.backbone(x)

    def prepare(self, images: torch.Tensor) -> None:
        """Called once with the training images (uint8) before anything is evaluated."""

    def optimizer_parameters(self):
        """The parameters the trainer's optimiser updates (default: all that require grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    def after_step(self, progress: float) -> None:
        """Called after each optimiser step; progress runs from 0 to 1 over the budget."""

    def on_epoch_start(self, epoch: int, images: torch.Tensor) -> None:
        """Called before each epoch with the training images (uint8)."""

    def reinitialised_parameters(self) -> list[nn.Parameter]:
        """Parameters that `on_epoch_start` re-initialises: the trainer drops their optimiser state."""
        return []

    def extra_state(self) -> dict:
        """Training state outside the weights (tensors and plain data), saved in the checkpoint."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what `extra_state` returned (an empty dict from an older checkpoint)."""

    @classmethod
    def pretext_example(cls, x: torch.Tensor, method=None, seed: int = 0) -> dict:
        """A pretext method's task on float images x (N×C×H×W in [0, 1]), drawn with `seed`: what the
        network sees ("inputs") and must produce ("targets"), and with a trained `method` its answer
        ("predicted"; for a painting task also "error" and "lazy_error", the mean squared errors of
        its answer and of the lazy one). Images are float tensors; teaching/answers.py turns them
        into pictures. Only methods that declare `pretext` have one."""
        raise NotImplementedError(f"{cls.name} has no pretext task to show")
