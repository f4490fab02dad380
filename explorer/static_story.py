"""The Story's steps for the static site, recorded from the very functions the Streamlit app runs: each
``explorer.story.STEPS[i].draw`` is called with ``Recorder`` standing in for its ``st`` module, so the captions,
numbers, pictures and Vega-Lite charts the site shows are those the app shows for the same zoo, dataset and seed
(issue 21, "one source of truth"). Pictures are written as PNG files; charts keep their spec, with the data that
Streamlit would ship as Arrow turned back into plain rows. A step that calls a Streamlit element the site cannot
show is an error naming it, so the two can never drift apart quietly.

The block schema the site renders (site/js/story.js):
    {"kind": "caption" | "markdown" | "subheader", "text": str}
    {"kind": "note", "level": "info" | "warning" | "error" | "success", "text": str}
    {"kind": "chart", "spec": Vega-Lite dict (data inline), "height": int | None}
    {"kind": "image", "src": path under data/, "caption": str | None, "width": int | None}
    {"kind": "row", "columns": [[block, ...], ...]}    (st.columns)
"""
from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from . import context, story
from .charts import plain_spec
from .context import Context

NOTE_LEVELS = ("info", "warning", "error", "success")


class StoryExportError(RuntimeError):
    """A step cannot be recorded for the static site (one sentence naming the step and the element)."""


def _picture(image) -> np.ndarray:
    """What st.image accepts from the story (uint8 or [0, 1] arrays, grey or RGB) as uint8."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(np.nan_to_num(array.astype(np.float64)), 0, 1) * 255).round().astype(np.uint8)
    return array


class Recorder:
    """Stands in for ``streamlit`` while one step draws: every element becomes a block (module docstring)."""

    def __init__(self, step: str, pictures: Path, prefix: str, counter: list[int] | None = None):
        self.blocks: list[dict] = []
        self.session_state: dict = {}
        self._step, self._pictures, self._prefix = step, pictures, prefix
        self._counter = counter if counter is not None else [0]

    def __getattr__(self, name: str):
        raise StoryExportError(f"Story step {self._step!r} calls st.{name}, which the static site does not show: "
                               f"add it to explorer/static_story.py (and site/js/story.js).")

    # text
    def caption(self, body: str, **_) -> None:
        self.blocks.append({"kind": "caption", "text": str(body)})

    def markdown(self, body: str, **_) -> None:
        self.blocks.append({"kind": "markdown", "text": str(body)})

    def subheader(self, body: str, **_) -> None:
        self.blocks.append({"kind": "subheader", "text": str(body)})

    def _note(self, level: str, body: str) -> None:
        self.blocks.append({"kind": "note", "level": level, "text": str(body)})

    def info(self, body: str, **_) -> None:
        self._note("info", body)

    def warning(self, body: str, **_) -> None:
        self._note("warning", body)

    def error(self, body: str, **_) -> None:
        self._note("error", body)

    def success(self, body: str, **_) -> None:
        self._note("success", body)

    # figures
    def vega_lite_chart(self, spec: dict, width=None, height: int | None = None, **_) -> None:
        self.blocks.append({"kind": "chart", "spec": plain_spec(spec), "height": height})

    def image(self, image, caption: str | None = None, width=None, **_) -> None:
        self._counter[0] += 1
        name = f"{self._prefix}-{self._counter[0]}.png"
        buffer = io.BytesIO()
        Image.fromarray(_picture(image)).save(buffer, format="PNG", optimize=True)
        (self._pictures / name).write_bytes(buffer.getvalue())
        self.blocks.append({"kind": "image", "src": name, "caption": None if caption is None else str(caption),
                            "width": width if isinstance(width, int) else None})

    # layout
    def columns(self, spec, **_) -> list[Recorder]:
        count = spec if isinstance(spec, int) else len(spec)
        cols = [Recorder(self._step, self._pictures, self._prefix, self._counter) for _ in range(count)]
        self.blocks.append({"kind": "row", "columns": cols})
        return cols

    def container(self, **_) -> Recorder:
        inner = Recorder(self._step, self._pictures, self._prefix, self._counter)
        self.blocks.append({"kind": "row", "columns": [inner]})
        return inner

    def result(self) -> list[dict]:
        """The blocks with nested recorders turned into their own blocks."""
        out = []
        for block in self.blocks:
            if block["kind"] == "row":
                block = {"kind": "row", "columns": [c.result() for c in block["columns"]]}
            out.append(block)
        return out


@contextmanager
def recording(recorder: Recorder):
    """``explorer.story`` and ``explorer.context`` (which reports a model that will not load) draw on ``recorder``
    while inside."""
    # "missing ScriptRunContext", "No runtime found": true, and expected outside the app. Streamlit sets a level on
    # each of its loggers, so each is quietened (and restored), not only the parent.
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "streamlit"]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with mock.patch.object(story, "st", recorder), mock.patch.object(context, "st", recorder):
            yield recorder
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def story_steps(ctx: Context, pictures: Path, src_prefix: str = "") -> list[dict]:
    """Every step of the story for ``ctx`` (its zoo, dataset and seed): [{slug, title, blocks}], pictures written
    into ``pictures`` and named in the blocks as ``src_prefix`` + file name."""
    pictures.mkdir(parents=True, exist_ok=True)
    steps = []
    for step in story.STEPS:
        recorder = Recorder(step.slug, pictures, f"{ctx.dataset}-{step.slug}")
        with recording(recorder):
            step.draw(ctx)
        blocks = recorder.result()
        _prefix_sources(blocks, src_prefix)
        steps.append({"slug": step.slug, "title": story.heading(step, ctx.checkpoints, ctx.dataset), "blocks": blocks})
    return steps


def _prefix_sources(blocks: list[dict], prefix: str) -> None:
    for block in blocks:
        if block["kind"] == "image":
            block["src"] = prefix + block["src"]
        elif block["kind"] == "row":
            for column in block["columns"]:
                _prefix_sources(column, prefix)


def story_context(root: str, checkpoints: list, dataset: str, seed: int = 0) -> Context:
    """The Context the app's sidebar would build for ``dataset`` of this zoo with the default seed (CPU)."""
    return Context(source=root, revision=None, root=root, checkpoints=checkpoints, dataset=dataset, seed=seed)



STORY_DIR = "story"  # under the export's data/: <dataset>.json and the pictures its steps name


def export_story(data: Path, root: str, checkpoints: list, seed: int = 0) -> dict[str, str]:
    """Write every dataset's story under ``data``/story and return {dataset: its JSON file, relative to ``data``}
    for zoo.json. Each file: {"dataset", "seed", "steps": story_steps(...)}."""
    folder = data / STORY_DIR
    files = {}
    for dataset in sorted({c.dataset for c in checkpoints}):
        steps = story_steps(story_context(root, checkpoints, dataset, seed), folder, f"{STORY_DIR}/")
        text = json.dumps(_finite({"dataset": dataset, "seed": seed, "steps": steps}), allow_nan=False,
                          default=_json_default, separators=(",", ":"))
        (folder / f"{dataset}.json").write_text(text)
        files[dataset] = f"{STORY_DIR}/{dataset}.json"
    return files


def _finite(value):
    """NaN and infinities as None (the site shows them as n/a), through dicts and lists."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _json_default(value):
    """numpy scalars and arrays inside chart data as plain JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
