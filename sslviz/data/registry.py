"""The dataset registry: one entry per dataset, and the kinds of data the recipes are chosen for.

Everything that lists, loads, guards or describes a dataset reads an entry here: `load_dataset` (its
loader), the pages' and the CLI's lists, the recipes (its kind of data), the Augmentations page's
note, the upload check (the image-size and channel limits) and the docs (a test holds README's
list to it). Adding a dataset is adding one `Dataset`; a dataset of a new kind (say 96-px photos)
is one `DataKind` more, with no code to change: the recipes key their table on the kind's name and
fall back to its family's row, at the kind's own size.

Importing this module is cheap (no torch, torchvision or PIL): each loader imports its libraries
when it is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sslviz.core.errors import DataError

FOLDER_PREFIX = "folder:"
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 512  # what any loader can be asked for (pixels, square)
CHANNELS = (1, 3)  # greyscale or RGB: what the augmentation engine and the backbones take
BASE_SIZE = 32  # the size the kinds' recipes were measured at unless a kind names its own


@dataclass(frozen=True)
class DataKind:
    """What decides a recipe: the images' channels, whether position matters (content centred in the
    frame), whether they are drawn with a few flat colours rather than photographed, and the size the
    kind's recipes work at (the images' native size where the recipes use it)."""

    channels: int
    centred: bool
    drawn: bool = False
    native_size: int = BASE_SIZE

    @property
    def colour(self) -> bool:
        return self.channels == 3

    @property
    def family(self) -> str:
        """The recipe table's row for this kind, size aside ("graphics", "grey-centred", ...)."""
        base = "graphics" if self.drawn else "colour" if self.colour else "grey"
        return base + ("-centred" if self.centred else "")

    @property
    def name(self) -> str:
        """The family, and the size where the kind works above the base size ("colour-96px")."""
        return self.family + (f"-{self.native_size}px" if self.native_size > BASE_SIZE else "")

    def describe(self) -> str:
        what = "colour graphics (flat colours)" if self.drawn else "colour" if self.colour else "greyscale"
        return f"{what}, {'centred (position matters)' if self.centred else 'objects anywhere'}"


# The kinds the recipes were measured on (sslviz/training/recipes.py). Centred greyscale works at 28 px,
# MNIST's own size (measured there); the others at the base 32 px.
GREY_CENTRED = DataKind(channels=1, centred=True, native_size=28)  # digits, MNIST, Fashion-MNIST
GREY = DataKind(channels=1, centred=False)
PHOTOS_CENTRED = DataKind(channels=3, centred=True)  # house numbers
PHOTOS = DataKind(channels=3, centred=False)  # CIFAR-10, STL-10
GRAPHICS_CENTRED = DataKind(channels=3, centred=True, drawn=True)  # icons, coloured digits
GRAPHICS = DataKind(channels=3, centred=False, drawn=True)  # shapes
KINDS: dict[str, DataKind] = {k.name: k for k in (GREY_CENTRED, GREY, PHOTOS_CENTRED, PHOTOS, GRAPHICS_CENTRED,
                                                  GRAPHICS)}


def kind_for(channels: int, centred: bool, drawn: bool = False) -> DataKind:
    """The known kind with these traits (a folder's, read off its images), else one at the base size."""
    for kind in KINDS.values():
        if (kind.channels, kind.centred, kind.drawn) == (channels, centred, drawn):
            return kind
    return DataKind(channels=channels, centred=centred, drawn=drawn)


def kind_named(name: str) -> DataKind:
    """A kind by its name (what a run's summary records); DataError naming it when unknown."""
    if name in KINDS:
        return KINDS[name]
    for entry in _REGISTRY.values():
        if entry.kind.name == name:
            return entry.kind
    raise DataError(f"unknown kind of data {name!r}; known: {', '.join(KINDS)}")


# ---------------------------------------------------------------------------------------------
# Loaders: (name, image_size, seed, data_root, download) -> ImageSet, importing their libraries late.


def _shapes(name, image_size, seed, data_root, download):
    from .shapes import load_shapes

    return load_shapes(image_size=image_size, seed=seed)


def _digits(name, image_size, seed, data_root, download):
    from .digits import load_digits_set

    return load_digits_set(image_size=image_size, seed=seed)


def _mnist_10k(name, image_size, seed, data_root, download):
    from .mnist_bundled import load_mnist_10k

    return load_mnist_10k(image_size=image_size, seed=seed)


def _torchvision(name, image_size, seed, data_root, download):
    from .torchvision_sets import load_torchvision_set

    return load_torchvision_set(name, image_size=image_size, data_root=data_root, seed=seed, download=download)


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str  # one line for lists
    loader: Callable  # (name, image_size, seed, data_root, download) -> ImageSet
    channels: int
    num_classes: int
    native_size: int  # the images' own size in pixels (they are resized to the working size at load)
    kind: DataKind
    notes: str  # why its default augmentations are what they are (the Augmentations page)
    needs_files: bool = False
    has_factors: bool = False
    aliases: tuple[str, ...] = field(default=())


_DIGIT_NOTES = ("No flips: a flipped 2 is not a 2; mild crops (60-100%): a 20% crop of a digit is a stroke; "
                "small rotations and brightness/contrast for handwriting variety.")
FOLDER_NOTES = ("Your own images: when the run starts, the trainer reads their kind off the images (colour or "
                "greyscale, drawn or photographed, centred or not) and picks that kind's recipe; shown here: the "
                "natural-photo one (crops, flips, colour jitter, grayscale).")

_REGISTRY: dict[str, Dataset] = {d.name: d for d in (
    Dataset("shapes", "synthetic shapes with known colour, size, position, rotation and background (generated, "
            "10,000)", _shapes, 3, 8, 32, GRAPHICS,
            "The label is the shape: crops, flips, rotations and strong colour changes teach the network "
            "to ignore position, orientation and colour.", has_factors=True),
    Dataset("digits", "scikit-learn's handwritten digits, 8×8 grey upsampled (bundled, 1,797)", _digits, 1, 10, 8,
            GREY_CENTRED, _DIGIT_NOTES),
    Dataset("mnist-10k", "MNIST's 10,000 test digits, 28×28 grey (bundled, CC BY-SA 3.0; split 8,000 / 2,000)",
            _mnist_10k, 1, 10, 28, GREY_CENTRED, _DIGIT_NOTES, aliases=("mnist10k", "mnist_10k")),
    Dataset("mnist", "handwritten digits, 28×28 grey (torchvision; 60,000 + 10,000)", _torchvision, 1, 10, 28,
            GREY_CENTRED, _DIGIT_NOTES, needs_files=True),
    Dataset("fashion-mnist", "Zalando clothing photos, 28×28 grey (torchvision; 60,000 + 10,000)", _torchvision, 1,
            10, 28, GREY_CENTRED,
            "Centred greyscale images, so the digits' recipe: mild crops (60-100%) and small rotations "
            "keep a garment recognisable; no flips; brightness/contrast only.", needs_files=True,
            aliases=("fashion_mnist", "fashionmnist")),
    Dataset("cifar10", "small colour photos of 10 object classes, 32×32 (torchvision; 50,000 + 10,000)",
            _torchvision, 3, 10, 32, PHOTOS,
            "Natural photos: SimCLR's CIFAR recipe, crops 20-100%, flips, strong colour jitter and "
            "grayscale so colour histograms cannot solve the task; no blur at 32 px.", needs_files=True,
            aliases=("cifar-10", "cifar_10")),
    Dataset("svhn", "house numbers from Street View, 32×32 colour (torchvision; 73,257 + 26,032)", _torchvision, 3,
            10, 32, PHOTOS_CENTRED,
            "House numbers are digits: no flips (a mirrored 3 is not a 3); otherwise natural-photo crops "
            "and colour jitter, since colours and backgrounds vary.", needs_files=True),
    # STL-10 is 96 px but trains with the 32-px photo recipe, as its shipped settings were measured
    Dataset("stl10", "colour photos, 96×96, labelled part only (torchvision; 5,000 + 8,000)", _torchvision, 3, 10,
            96, PHOTOS,
            "Natural photos: SimCLR's recipe, crops 20-100%, flips, strong colour jitter and grayscale so "
            "colour histograms cannot solve the task.", needs_files=True, aliases=("stl-10", "stl_10")),
)}


def register(entry: Dataset) -> None:
    """Add (or replace) a dataset; its name and aliases become loadable at once."""
    if entry.channels not in CHANNELS or entry.kind.channels != entry.channels:
        raise DataError(f"{entry.name}: channels must be one of {CHANNELS} and match its kind's")
    _REGISTRY[entry.name] = entry


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def entries() -> list[Dataset]:
    return list(_REGISTRY.values())


def known() -> str:
    return ", ".join(_REGISTRY) + ", or folder:PATH"


def lookup(name: str) -> Dataset | None:
    """The entry for a registered name or alias (case and '_' forgiven); None for anything else."""
    key = str(name).strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    for entry in _REGISTRY.values():
        if key in entry.aliases:
            return entry
    return None


def kind_of(name: str) -> DataKind | None:
    """A registered dataset's kind of data; None for folders and uploads (read off their images)."""
    entry = lookup(name)
    return entry.kind if entry is not None else None


def check_image_size(where: str, image_size) -> int:
    """The working size as an int, or DataError naming `where` (a dataset, an upload)."""
    import numbers

    if not isinstance(image_size, numbers.Integral) or isinstance(image_size, bool) \
            or not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
        raise DataError(f"{where}: image_size must be an integer from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, "
                        f"got {image_size!r}")
    return int(image_size)
