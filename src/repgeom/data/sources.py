"""Dataset specifications: official file names, URLs and checksums.

URLs and md5 checksums are those torchvision uses (torchvision/datasets/mnist.py and
cifar.py, torchvision 0.29). The Google cvdf MNIST mirror and the zalandoresearch GitHub
path for Fashion-MNIST are extra mirrors serving the same archives. The sha256 values
of the decompressed Fashion-MNIST files come from the offline mirror's README.
"""

from __future__ import annotations

import dataclasses

from repgeom.config import MIRROR_CONFIG_KEY, MIRROR_ENV  # noqa: F401 (re-exported)


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One official file: its name, the URLs serving it, and what it should hash to."""

    name: str
    md5: str  # md5 of the official file as published (the archive for .gz/.tar.gz)
    urls: tuple[str, ...]
    content_sha256: str | None = None  # sha256 of the decompressed content, where known


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # "idx" (MNIST-like) or "cifar"
    mirror_dir: str  # folder name inside the mirror
    files: tuple[FileSpec, ...]
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]  # C, H, W
    n_train: int  # official split sizes
    n_test: int
    # CIFAR only: md5 of the extracted batch files (torchvision's train_list/test_list/meta)
    member_md5: tuple[tuple[str, str], ...] = ()

    @property
    def file_names(self) -> list[str]:
        return [f.name for f in self.files]


IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_CONTENT_SHA256 = {  # keyed by file stem (no .gz)
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_META = "batches.meta"
CIFAR10_MEMBER_MD5 = (
    ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    ("data_batch_4", "634d18415352ddfa80567beed471001a"),
    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    ("test_batch", "40351d587109b95175f43aff81a1287e"),
    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
)


def _idx_files(mirrors, md5s, sha256s=None) -> tuple[FileSpec, ...]:
    sha256s = sha256s or {}
    out = []
    for stem in IDX_STEMS:
        name = stem + ".gz"
        out.append(FileSpec(name, md5s[name], tuple(m + name for m in mirrors), sha256s.get(stem)))
    return tuple(out)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        kind="idx",
        mirror_dir="mnist",
        files=_idx_files(MNIST_MIRRORS, MNIST_MD5),
        classes=tuple(str(i) for i in range(10)),
        image_shape=(1, 28, 28),
        n_train=60000,
        n_test=10000,
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        kind="idx",
        mirror_dir="fashion-mnist",
        files=_idx_files(FASHION_MIRRORS, FASHION_MD5, FASHION_CONTENT_SHA256),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        image_shape=(1, 28, 28),
        n_train=60000,
        n_test=10000,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        kind="cifar",
        mirror_dir="cifar-10",
        files=(FileSpec(CIFAR10_ARCHIVE, CIFAR10_MD5, (CIFAR10_URL,)),),
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        image_shape=(3, 32, 32),
        n_train=50000,
        n_test=10000,
        member_md5=CIFAR10_MEMBER_MD5,
    ),
}


def get_spec(name: str) -> DatasetSpec:
    from .errors import DataError

    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}"
        ) from None
