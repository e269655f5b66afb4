"""Tiny local copies of the video multiple-choice benchmarks in their hub schema and layout.

* `videomme(root)`: lmms-lab/Video-MME as a download with its archives extracted:
  `videomme/test-00000-of-00001.parquet` (video_id, duration, domain, sub_category, url,
  videoID, question_id, task_type, question, options, answer) and `data/<videoID>.mp4`.
* `mvbench(root)`: OpenGVLab/MVBench's `video` branch: `json/<subtask>.json` for each of the 20
  subtasks (video, question, candidates, answer) beside the per-source video folders.

Videos are generated H.264 clips (`helpers.videos.write_h264`); one file per benchmark holds
bytes that are no video, and one row names a file that is absent. Each row carries the answer a
scripted model gives (`*_CANNED`: a phrase of the question -> answer); the expected scores are
worked out by hand in tests/test_video_mcq_tasks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.videos import write_h264

#: frames of every generated clip
CLIP_FRAMES = 40

# (question_id, videoID, duration, task_type, question, options, answer, canned answer)
VIDEOMME_ROWS = (
    ("001-1", "vidA", "short", "Counting Problem", "How many birds fly past?",
     ("A. One.", "B. Two.", "C. Three.", "D. Four."), "C", "The best answer is C."),
    ("001-2", "vidA", "short", "OCR Problems", "What does the sign say?",
     ("A. Stop.", "B. Exit.", "C. Open.", "D. Sale."), "B", "Answer: B"),
    ("002-1", "vidB", "medium", "Counting Problem", "How many cars pass?",
     ("A. Three.", "B. Five.", "C. Six.", "D. Nine."), "A", "The answer is (A) three"),
    ("002-2", "vidB", "medium", "Action Reasoning", "Why does the man run?",
     ("A. Late.", "B. Rain.", "C. Race.", "D. Dog."), "D", "i am not sure about this one"),
    ("003-1", "vidC", "long", "Action Reasoning", "What happens at the end?",
     ("A. A fall.", "B. A goal.", "C. A song.", "D. A fire."), "B", "the best option is B"),
    ("003-2", "vidBad", "long", "OCR Problems", "Which year is shown?",
     ("A. 1990.", "B. 2000.", "C. 2010.", "D. 2020."), "C", "C"),
    ("004-1", "vidGone", "long", "Counting Problem", "How many doors open?",
     ("A. 1.", "B. 2.", "C. 3.", "D. 4."), "A", "A"),
)  # fmt: skip
VIDEOMME_CANNED = {row[4]: row[7] for row in VIDEOMME_ROWS}


def videomme(root: Path, rows=VIDEOMME_ROWS) -> Path:
    """Write the Video-MME copy under `root` (the `--data-dir`); vidC is stored as .MP4, the
    upper-case extension lmms-eval also tries, vidBad holds no video, vidGone is absent."""
    import datasets

    target = root / "videomme" / "test-00000-of-00001.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    names = ("question_id", "videoID", "duration", "task_type", "question", "options", "answer")
    columns = {name: [row[k] for row in rows] for k, name in enumerate(names)}
    columns["options"] = [list(options) for options in columns["options"]]
    columns["video_id"] = [qid.split("-")[0] for qid in columns["question_id"]]
    columns["domain"] = ["Knowledge"] * len(rows)
    columns["sub_category"] = ["Humanity & History"] * len(rows)
    columns["url"] = [f"https://www.youtube.com/watch?v={v}" for v in columns["videoID"]]
    string = datasets.Value("string")
    features = {
        "video_id": string, "duration": string, "domain": string, "sub_category": string,
        "url": string, "videoID": string, "question_id": string, "task_type": string,
        "question": string, "options": datasets.Sequence(string), "answer": string,
    }  # fmt: skip
    order = list(features)
    table = datasets.Dataset.from_dict(
        {k: columns[k] for k in order}, features=datasets.Features(features)
    )
    table.to_parquet(str(target))
    videos = root / "data"
    videos.mkdir(exist_ok=True)
    write_h264(videos / "vidA.mp4", CLIP_FRAMES)
    write_h264(videos / "vidB.mp4", CLIP_FRAMES)
    write_h264(videos / "vidC.MP4", CLIP_FRAMES)
    (videos / "vidBad.mp4").write_bytes(b"not a video at all" * 64)
    return root


#: lmms-eval's mvbench task order, and each subtask's video folder (its DATA_LIST)
MVBENCH_FOLDERS = {
    "action_sequence": "star/Charades_segment",
    "moving_count": "clevrer/video_validation",
    "action_prediction": "star/Charades_segment",
    "episodic_reasoning": "tvqa/video_fps3_hq_segment",
    "action_antonym": "ssv2_video_mp4",
    "action_count": "perception/videos",
    "scene_transition": "scene_qa/video",
    "object_shuffle": "perception/videos",
    "object_existence": "clevrer/video_validation",
    "fine_grained_pose": "nturgbd_convert",
    "unexpected_action": "FunQA_test/test",
    "moving_direction": "clevrer/video_validation",
    "state_change": "perception/videos",
    "object_interaction": "star/Charades_segment",
    "character_order": "perception/videos",
    "action_localization": "sta/sta_video_segment",
    "counterfactual_inference": "clevrer/video_validation",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "moving_attribute": "clevrer/video_validation",
    "egocentric_navigation": "vlnqa",
}

# (subtask, video file, question, candidates, answer, canned answer)
MVBENCH_ROWS = (
    ("action_sequence", "c1.mp4", "What did the person do first?",
     ("Opened the door.", "Sat on the bed.", "Took a cup."), "Sat on the bed.",
     "(B) Sat on the bed."),
    ("moving_count", "video_1.mp4", "How many metal objects enter?",
     ("2", "3", "4"), "3", "3"),
    ("action_antonym", "a1.mp4", "Which action is shown?",
     ("pushing", "pulling", "not sure"), "not sure", ""),
    ("action_count", "p1.mp4", "How many times is the box lifted?",
     ("1", "2", "3"), "1", "A. 1"),
    ("scene_transition", "s1.mp4", "How does the scene change?",
     ("From kitchen to street.", "From beach to forest."), "From beach to forest.",
     "A man walks from the beach into a forest."),
    ("object_existence", "video_1.mp4", "Are there any cubes?",
     ("yes", "no"), "no", "Best option: (B) no"),
    ("fine_grained_pose", "gone.avi", "Which pose is held?",
     ("sitting", "standing"), "sitting", "A"),
    ("unexpected_action", "bad.mp4", "What is funny here?",
     ("the fall", "the hat"), "the hat", "B"),
    ("egocentric_navigation", "v1.mp4", "Where should I turn?",
     ("left", "right"), "straight on", "A"),
)  # fmt: skip
MVBENCH_CANNED = {row[2]: row[5] for row in MVBENCH_ROWS}


def mvbench(root: Path, rows=MVBENCH_ROWS) -> Path:
    """Write the MVBench copy under `root` (the `--data-dir`): every subtask's json (an empty
    list for the subtasks without a row here) and the videos the rows name, except gone.avi;
    bad.mp4 holds no video."""
    (root / "json").mkdir(parents=True, exist_ok=True)
    for subtask in MVBENCH_FOLDERS:
        records = [
            {"video": video, "question": question, "candidates": list(candidates), "answer": answer}
            for task, video, question, candidates, answer, _ in rows
            if task == subtask
        ]
        (root / "json" / f"{subtask}.json").write_text(json.dumps(records), encoding="utf-8")
    for subtask, video, *_ in rows:
        path = root / MVBENCH_FOLDERS[subtask] / video
        path.parent.mkdir(parents=True, exist_ok=True)
        if video == "bad.mp4":
            path.write_bytes(b"\x00\x01 broken" * 100)
        elif video != "gone.avi" and not path.exists():
            write_h264(path, CLIP_FRAMES)
    return root


#: the rows every model can answer (no missing or broken video, gold answer among the options)
VIDEOMME_CLEAN_ROWS = tuple(r for r in VIDEOMME_ROWS if r[1] not in ("vidBad", "vidGone"))
MVBENCH_CLEAN_ROWS = tuple(
    r for r in MVBENCH_ROWS if r[1] not in ("gone.avi", "bad.mp4") and r[4] in r[3]
)
