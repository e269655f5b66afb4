"""Tiny local copies of the multiple-choice benchmarks, in each hub dataset's own schema and
file layout (one builder per benchmark). Columns and feature types follow the public code that
reads them (lmms-eval's task utils, cited in each task YAML); images are real photos.

Each builder writes under `root` and returns `(root, n)`: the folder to pass as `--data-dir`
and the number of rows the task scores.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from helpers.media import photo
from helpers.openqa_schemas import write_parquet

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def image_cell(name: str, size: int = 64) -> dict:
    """A `datasets.Image` cell (PNG bytes) of the photo `name`, shrunk to `size` pixels wide."""
    image = photo(name)
    image = image.resize((size, max(1, image.height * size // image.width)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": f"{name}.png"}


# --------------------------------------------------------------------------------- MMMU
#: (id, question, options, answer, question_type, images used)
MMMU_ROWS = (
    ("validation_Art_1", "Which animal is in <image 1>?", "['cat', 'dog', 'bird', 'fish']", "A",
     "multiple-choice", 1),
    ("validation_Math_2", "Compare <image 1> and <image 2>: which is brighter?",
     "['the first', 'the second']", "B", "multiple-choice", 2),
    ("validation_Physics_3", "How many objects are in <image 1>?", "[]", "2", "open", 1),
    ("validation_Accounting_4", "<image 2> shows a cat. What do <image 1> and <image 3> show?",
     "['people', 'objects', '<image 3> twice', 'nothing']", "C", "multiple-choice", 3),
)  # fmt: skip


def mmmu(root: Path, rows=MMMU_ROWS) -> tuple[Path, int]:
    """lmms-lab/MMMU, split validation: data/validation-*.parquet; id, question (with
    <image N> tags), options (a Python list literal as a string), explanation, image_1 ...
    image_7 (null where unused), img_type, answer, topic_difficulty, question_type, subfield."""
    from datasets import Image, Value

    columns: dict[str, list] = {
        "id": [r[0] for r in rows],
        "question": [r[1] for r in rows],
        "options": [r[2] for r in rows],
        "explanation": ["" for _ in rows],
    }
    for n in range(1, 8):  # image_N is 16 * N pixels wide, so tests can tell them apart
        columns[f"image_{n}"] = [
            image_cell(PHOTOS[(n - 1) % len(PHOTOS)], 16 * n) if n <= r[5] else None for r in rows
        ]
    columns |= {
        "img_type": ["['Photographs']" for _ in rows],
        "answer": [r[3] for r in rows],
        "topic_difficulty": ["Easy" for _ in rows],
        "question_type": [r[4] for r in rows],
        "subfield": ["General" for _ in rows],
    }
    features = {k: Value("string") for k in columns}
    features |= {f"image_{n}": Image() for n in range(1, 8)}
    write_parquet(root, "data/validation-00000-of-00001.parquet", columns, features)
    return root, len(rows)


# --------------------------------------------------------------------------------- MMBench
#: (index, question, options A-D (None: absent), answer, L2-category); indices >= 1e6 are the
#: circular shifts of index % 1e6, their options rotated
MMBENCH_ROWS = (
    (0, "What is shown?", ("cat", "dog", "bird", "fish"), "A", "coarse_perception"),
    (1000000, "What is shown?", ("dog", "bird", "fish", "cat"), "D", "coarse_perception"),
    (2000000, "What is shown?", ("bird", "fish", "cat", "dog"), "C", "coarse_perception"),
    (3000000, "What is shown?", ("fish", "cat", "dog", "bird"), "B", "coarse_perception"),
    (1, "Is it a photo?", ("yes", "no", None, None), "A", "attribute_reasoning"),
    (1000001, "Is it a photo?", ("no", "yes", None, None), "B", "attribute_reasoning"),
)


def mmbench(root: Path, rows=MMBENCH_ROWS) -> tuple[Path, int]:
    """lmms-lab/MMBench, config en, split dev: en/dev-*.parquet; index, question, hint, A-D,
    answer, category, image, source, L2-category, comment, split."""
    from datasets import Image, Value

    columns = {
        "index": [r[0] for r in rows],
        "question": [r[1] for r in rows],
        "hint": ["A photo from a test set." if r[0] % 2 else None for r in rows],
        **{letter: [r[2][i] for r in rows] for i, letter in enumerate("ABCD")},
        "answer": [r[3] for r in rows],
        "category": ["image_topic" for _ in rows],
        "image": [image_cell(PHOTOS[r[0] % 1000000 % len(PHOTOS)]) for r in rows],
        "source": ["test" for _ in rows],
        "L2-category": [r[4] for r in rows],
        "comment": [None for _ in rows],
        "split": ["dev" for _ in rows],
    }
    features = {k: Value("string") for k in columns}
    features |= {"index": Value("int64"), "image": Image()}
    write_parquet(root, "en/dev-00000-of-00001.parquet", columns, features)
    return root, len(rows)


# --------------------------------------------------------------------------------- MMStar
MMSTAR_ROWS = (
    (0, "Which animal is this?\nOptions: A: a cat, B: a dog, C: a bird, D: a fish", "A",
     "coarse perception", "image scene and topic"),
    (1, "How many cups are there?\nOptions: A: 1, B: 2, C: 3, D: 4", "A",
     "fine-grained perception", "object counting"),
    (2, "What is in the sky?\nOptions: A: a plane, B: a rocket, C: a bird, D: nothing", "B",
     "instance reasoning", "single-instance reasoning"),
)  # fmt: skip


def mmstar(root: Path, rows=MMSTAR_ROWS) -> tuple[Path, int]:
    """Lin-Chen/MMStar, split val: index, question (options listed in it), image, answer,
    category (the core capability), l2_category, meta_info."""
    from datasets import Image, Value

    columns = {
        "index": [r[0] for r in rows],
        "question": [r[1] for r in rows],
        "image": [image_cell(PHOTOS[i % len(PHOTOS)]) for i, _ in enumerate(rows)],
        "answer": [r[2] for r in rows],
        "category": [r[3] for r in rows],
        "l2_category": [r[4] for r in rows],
        "meta_info": [
            {"source": "MMBench", "split": "val", "image_path": [f"{i}.jpg"]}
            for i, _ in enumerate(rows)
        ],
    }
    features = {
        "index": Value("int64"),
        "question": Value("string"),
        "image": Image(),
        "answer": Value("string"),
        "category": Value("string"),
        "l2_category": Value("string"),
        "meta_info": {
            "source": Value("string"),
            "split": Value("string"),
            "image_path": [Value("string")],
        },
    }
    write_parquet(root, "data/val-00000-of-00001.parquet", columns, features)
    return root, len(rows)


# --------------------------------------------------------------------------------- ScienceQA
SCIENCEQA_ROWS = (
    ("Which animal is shown?", ["cat", "dog"], 0, "The picture was taken at home."),
    ("Which is a planet?", ["Mars", "the Moon", "the Sun"], 0, ""),
    ("Which object is hot?", ["coffee", "ice"], 0, ""),
)


def scienceqa(root: Path, rows=SCIENCEQA_ROWS) -> tuple[Path, int]:
    """lmms-lab/ScienceQA, config ScienceQA-IMG, split test: ScienceQA-IMG/test-*.parquet;
    image, question, choices (list), answer (option index), hint, task, grade, subject, topic,
    category, skill, lecture, solution."""
    from datasets import Image, Sequence, Value

    columns = {
        "image": [image_cell(PHOTOS[i % len(PHOTOS)]) for i, _ in enumerate(rows)],
        "question": [r[0] for r in rows],
        "choices": [r[1] for r in rows],
        "answer": [r[2] for r in rows],
        "hint": [r[3] for r in rows],
        "task": ["closed choice" for _ in rows],
        "grade": ["grade2" for _ in rows],
        "subject": ["natural science" for _ in rows],
        "topic": ["biology" for _ in rows],
        "category": ["Animals" for _ in rows],
        "skill": ["Identify animals" for _ in rows],
        "lecture": ["" for _ in rows],
        "solution": ["" for _ in rows],
    }
    features = {k: Value("string") for k in columns}
    features |= {"image": Image(), "choices": Sequence(Value("string")), "answer": Value("int8")}
    write_parquet(root, "ScienceQA-IMG/test-00000-of-00001.parquet", columns, features)
    return root, len(rows)


# --------------------------------------------------------------------------------- AI2D
AI2D_ROWS = (
    ("Which stage comes first?", ["egg", "larva", "pupa", "adult"], "0"),
    ("What does the arrow show?", ["eating", "growing", "moving", "sleeping"], "2"),
    ("Which part is labelled B?", ["root", "stem", "leaf", "flower"], "3"),
)


def ai2d(root: Path, rows=AI2D_ROWS) -> tuple[Path, int]:
    """lmms-lab/ai2d, split test: question, options (list), answer (option index as a string),
    image."""
    from datasets import Image, Sequence, Value

    columns = {
        "question": [r[0] for r in rows],
        "options": [r[1] for r in rows],
        "answer": [r[2] for r in rows],
        "image": [image_cell(PHOTOS[i % len(PHOTOS)]) for i, _ in enumerate(rows)],
    }
    features = {
        "question": Value("string"),
        "options": Sequence(Value("string")),
        "answer": Value("string"),
        "image": Image(),
    }
    write_parquet(root, "data/test-00000-of-00001.parquet", columns, features)
    return root, len(rows)


# --------------------------------------------------------------------------------- SEED-Bench
#: (question_id, question, choices a-d, answer, data_type, question_type_id)
SEEDBENCH_ROWS = (
    ("101", "What is the main object?", ("a cat", "a dog", "a car", "a tree"), "A", "image", 1),
    ("102", "How many people are there?", ("0", "1", "2", "3"), "B", "image", 5),
    ("103", "What is the person doing?", ("sitting", "running", "eating", "sleeping"), "A",
     "image", 7),
)  # fmt: skip
SEEDBENCH_VIDEO_ROW = (
    "v1", "What happens next?", ("a", "b", "c", "d"), "C", "video", 10,
)  # fmt: skip


def seedbench(root: Path, rows=SEEDBENCH_ROWS) -> tuple[Path, int]:
    """lmms-lab/SEED-Bench, split test: answer, choice_a-d, data_id, data_type (image/video),
    question, question_id, question_type_id, image (a list of images), segment. Returns the
    number of image rows (the ones seedbench-img scores)."""
    from datasets import Image, Sequence, Value

    columns = {
        "answer": [r[3] for r in rows],
        **{f"choice_{c}": [r[2][i] for r in rows] for i, c in enumerate("abcd")},
        "data_id": [f"{r[0]}.jpg" for r in rows],
        "data_type": [r[4] for r in rows],
        "question": [r[1] for r in rows],
        "question_id": [r[0] for r in rows],
        "question_type_id": [r[5] for r in rows],
        "image": [[image_cell(PHOTOS[i % len(PHOTOS)])] for i, _ in enumerate(rows)],
        "segment": [None if r[4] == "image" else [0, 10] for r in rows],
    }
    features = {k: Value("string") for k in columns}
    features |= {
        "question_type_id": Value("int64"),
        "image": Sequence(Image()),
        "segment": Sequence(Value("int64")),
    }
    write_parquet(root, "data/test-00000-of-00001.parquet", columns, features)
    return root, sum(r[4] == "image" for r in rows)


# --------------------------------------------------------------------------------- RealWorldQA
RWQA_INSTRUCTION = (
    "Please answer directly with only the letter of the correct option and nothing else."
)
REALWORLDQA_ROWS = (
    (f"What is in the picture?\n\nA. a person\nB. a cat\nC. a rocket\n\n{RWQA_INSTRUCTION}", "A"),
    (f"Is the object hot?\n\nA. yes\nB. no\n\n{RWQA_INSTRUCTION}", "A"),
    ("How many cups are there? Please answer directly with a single word or number.", "1"),
)  # fmt: skip


def realworldqa(root: Path, rows=REALWORLDQA_ROWS) -> tuple[Path, int]:
    """lmms-lab/RealWorldQA, split test: image, question (options and instruction in it),
    answer (a letter, or a word or number)."""
    from datasets import Image, Value

    columns = {
        "image": [image_cell(PHOTOS[i % len(PHOTOS)]) for i, _ in enumerate(rows)],
        "question": [r[0] for r in rows],
        "answer": [r[1] for r in rows],
    }
    features = {"image": Image(), "question": Value("string"), "answer": Value("string")}
    write_parquet(root, "data/test-00000-of-00001.parquet", columns, features)
    return root, len(rows)


MCQ_BUILDERS: dict[str, Callable[[Path], tuple[Path, int]]] = {
    "mmmu-val": mmmu,
    "mmbench-dev-en": mmbench,
    "mmstar": mmstar,
    "scienceqa-img": scienceqa,
    "ai2d": ai2d,
    "seedbench-img": seedbench,
    "realworldqa": realworldqa,
}
#: tasks whose hub copy has no commit sha found in public code or docs (revision: main)
MCQ_UNPINNED = set(MCQ_BUILDERS)
