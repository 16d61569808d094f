"""`mnist-10k`: the 10,000 MNIST test images that ship inside sslviz (1.6 MB, CC BY-SA 3.0).

Real handwritten digits with no network: the pretrained zoo, the tests and a class offline use
them. The images are split stratified 8,000 / 2,000 from the seed, exactly as `mnist` splits the
same files when a data root holds only t10k (so the two give the same numbers). The licence is
in bundled/mnist/LICENCE.md.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "bundled" / "mnist"


def load_mnist_10k(image_size: int = 28, seed: int = 0):
    import torch

    from sslviz.core.errors import DataError

    from .split import make_imageset, resize_images, stratified_split
    from .torchvision_sets import DIGIT_NAMES, _idx_pair

    images_path, labels_path = FOLDER / "t10k-images-idx3-ubyte.gz", FOLDER / "t10k-labels-idx1-ubyte.gz"
    if not images_path.is_file() or not labels_path.is_file():
        raise DataError(f"mnist-10k: the bundled files are missing from {FOLDER}; reinstall sslviz")
    images, labels = _idx_pair(images_path, labels_path)
    images = resize_images(torch.from_numpy(images).unsqueeze(1), image_size)
    train_idx, test_idx = stratified_split(labels, 0.2, seed)
    report = {"source": "MNIST test set bundled with sslviz (CC BY-SA 3.0)", "n": len(labels),
              "split": f"stratified {len(train_idx):,}/{len(test_idx):,} from seed {seed}"}
    return make_imageset("mnist-10k", DIGIT_NAMES, images, labels, train_idx, test_idx, report=report)
