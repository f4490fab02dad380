"""The artefact schema (vae_core.files.schema): records round-trip, damaged values are read as missing with a note that
names them, files that are not records at all are refused, and every shipped checkpoint's files read cleanly."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vae_core.files.schema import (
    SCHEMA_VERSION,
    BestLogLikelihood,
    Evaluation,
    HistoryLine,
    Metrics,
    Problem,
    SchemaError,
    TracePoint,
    TrainingState,
    from_dict,
    from_json,
    parse_dict,
    parse_json,
    to_dict,
    to_json,
)

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def evaluation() -> Evaluation:
    return Evaluation(name="m", dataset="mnist", decoder="bernoulli", latent_dim=16, data_kind="binary",
                      test=Metrics(num_images=10, elbo=-100.0, iwae=-95.5, iwae_k=1000),
                      log_likelihood=BestLogLikelihood(method="ais", settings={"num_steps": 300}, estimate=-90.0))


@pytest.mark.parametrize("record, cls", [
    (evaluation(), Evaluation),
    (HistoryLine(epoch=3, loss=1.5, trace=[TracePoint(step=0, loss=2.0, smallest_sigma=0.1)]), HistoryLine),
    (TrainingState(epoch=2, files={"model.safetensors": "ab" * 32}, torch_rng=[1, 2, 3]), TrainingState),
])
def test_round_trip(record, cls):
    back, notes = from_json(cls, to_json(record), "x.json")
    assert back == record and notes == []


def test_keys_are_written_as_the_files_spell_them():
    from vae_core.files.schema import SigmaStats
    d = to_dict(Evaluation(sigma=SigmaStats(frac_below_0_01=0.5)))
    assert d["sigma"]["frac_below_0.01"] == 0.5 and d["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("section, key, value, expected", [
    ("test", "elbo", "12", "test.elbo is a string, not a finite number"),
    ("test", "elbo", True, "test.elbo is a boolean, not a finite number"),
    ("test", "iwae_k", 2.5, "test.iwae_k is a number, not an integer"),
    ("test", "elbo", {"a": 1}, "test.elbo is an object, not a finite number"),
    ("log_likelihood", "estimate", [1], "log_likelihood.estimate is a list, not a finite number"),
    ("log_likelihood", "settings", 3, "log_likelihood.settings is a number, not an object"),
])
def test_a_wrong_value_is_missing_with_a_note(section, key, value, expected):
    d = to_dict(evaluation())
    d[section][key] = value
    ev, notes = from_dict(Evaluation, d, "m/eval.json")
    part = getattr(ev, section)
    assert getattr(part, key) in (None, {}) and notes == [f"m/eval.json: {expected}; shown as n/a."]
    assert ev.test.num_images == 10  # the rest of the file is still read


@pytest.mark.parametrize("record, cls, damage, path", [
    (evaluation(), Evaluation, {"test": {"elbo": "12"}}, "test.elbo"),
    (evaluation(), Evaluation, {"sigma": [1]}, "sigma"),
    (evaluation(), Evaluation, {"log_likelihood": {"settings": 3}}, "log_likelihood.settings"),
    (evaluation(), Evaluation, {"schema_version": SCHEMA_VERSION + 1}, "schema_version"),
    (HistoryLine(epoch=1), HistoryLine, {"trace": [{"step": 0}, "x"]}, "trace[1]"),
    (HistoryLine(epoch=1), HistoryLine, {"trace": [{"step": True}]}, "trace[0].step"),
    (HistoryLine(epoch=1), HistoryLine, {"sigma_min": float("nan")}, "sigma_min"),
])
def test_each_problem_names_its_field_path_and_keeps_its_sentence(record, cls, damage, path):
    """Readers act on Problem.path; from_dict gives the same problems as sentences."""
    d = to_dict(record)
    for key, value in damage.items():
        d[key] = {**d[key], **value} if isinstance(value, dict) and isinstance(d.get(key), dict) else value
    _, problems = parse_dict(cls, d, "f")
    _, notes = from_dict(cls, d, "f")
    assert [p.path for p in problems] == [path] and [p.where for p in problems] == ["f"]
    assert notes == [p.message for p in problems] == [str(p) for p in problems] and notes[0].startswith("f")


@pytest.mark.parametrize("text, path", [("{", ""), ("[]", ""), ('{"loss": 1}', "epoch"), ('{"epoch": "1"}', "epoch")])
def test_a_refusal_carries_its_problem(text, path):
    with pytest.raises(SchemaError) as refused:
        parse_json(HistoryLine, text, "line 1")
    assert isinstance(refused.value.problem, Problem) and refused.value.problem.path == path
    assert str(refused.value) == refused.value.problem.message and refused.value.problem.message.startswith("line 1")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_read_as_missing(value):
    d = to_dict(evaluation())
    d["test"]["iwae"] = value
    ev, notes = from_dict(Evaluation, d, "m/eval.json")
    assert ev.test.iwae is None and "test.iwae is" in notes[0]


@pytest.mark.parametrize("section", ["test", "sigma", "frechet", "training", "log_likelihood", "embedded_sample"])
def test_a_section_that_is_not_an_object_is_missing(section):
    d = {**to_dict(evaluation()), section: [1, 2]}
    ev, notes = from_dict(Evaluation, d, "m/eval.json")
    assert getattr(ev, section) is None and notes == [f"m/eval.json: {section} is a list, not an object; shown as n/a."]


@pytest.mark.parametrize("text, message", [
    ("{not json", "m/eval.json is not valid JSON"),
    ("[1, 2]", "m/eval.json holds a list where a JSON object is expected"),
    ("42", "m/eval.json holds a number where a JSON object is expected"),
])
def test_not_a_record_is_refused(text, message):
    with pytest.raises(SchemaError, match=message.replace(".", r"\.")):
        from_json(Evaluation, text, "m/eval.json")


@pytest.mark.parametrize("line, message", [
    ({}, "no epoch"), ({"epoch": "3"}, "epoch is a string"), ({"epoch": 2.0}, "epoch is a number"),
])
def test_a_history_line_needs_an_integer_epoch(line, message):
    with pytest.raises(SchemaError, match=message):
        from_dict(HistoryLine, line, "history.jsonl line 1")


def test_a_bad_trace_point_is_skipped_not_fatal():
    line, notes = from_dict(HistoryLine, {"epoch": 1, "trace": [{"step": 0, "loss": 1.0}, "x"]}, "h")
    assert line.trace == [TracePoint(step=0, loss=1.0)] and notes == ["h: trace[1] is a string; skipped."]


def test_unknown_keys_are_kept_and_written_back():
    d = {**to_dict(evaluation()), "future_metric": {"a": 1}}
    ev, notes = from_dict(Evaluation, d, "m/eval.json")
    assert ev.extra == {"future_metric": {"a": 1}} and notes == []
    assert json.loads(to_json(ev))["future_metric"] == {"a": 1}


def test_a_newer_version_is_read_with_a_note():
    d = {**to_dict(evaluation()), "schema_version": SCHEMA_VERSION + 1}
    _, notes = from_dict(Evaluation, d, "m/eval.json")
    assert notes and "newer version" in notes[0]


def test_writing_non_finite_numbers_gives_strict_json_that_says_so():
    ev = evaluation()
    ev.test.elbo, ev.log_likelihood.estimate = math.nan, math.inf
    d = json.loads(to_json(ev))  # allow_nan=False inside: this would raise on NaN
    assert d["test"]["elbo"] is None and d["log_likelihood"]["estimate"] is None
    assert d["nonfinite"] == ["log_likelihood.estimate (inf)", "test.elbo (nan)"]


@pytest.mark.parametrize("folder", sorted(p.parent for p in CHECKPOINTS.glob("*/eval.json")), ids=lambda p: p.name)
def test_every_shipped_checkpoint_reads_cleanly(folder):
    ev, notes = from_json(Evaluation, (folder / "eval.json").read_text(), f"{folder.name}/eval.json")
    assert notes == [] and ev.name == folder.name and ev.extra == {}
    for number, text in enumerate((folder / "history.jsonl").read_text().splitlines(), 1):
        line, notes = from_json(HistoryLine, text, f"history.jsonl line {number}")
        assert notes == [] and line.extra == {} and line.epoch == number
    state, notes = from_json(TrainingState, (folder / "training_state.json").read_text(), "training_state.json")
    assert notes == [] and state.extra == {}


@pytest.mark.parametrize("state, message", [
    ({"epoch": 1, "torch_rng": "abc"}, "x: torch_rng is a string, not a list"),
    ({"epoch": 1, "files": {"a": "b"}, "diverged": 3}, "x: diverged is a number, not an object"),
    ({"epoch": 1, "torch_rng": [1, "2"]}, r"x: torch_rng\[1\] is a string"),
])
def test_a_commit_record_read_strictly_refuses_any_wrong_value(state, message):
    from_dict(TrainingState, state, "x")  # read for display, the same values are only notes
    with pytest.raises(SchemaError, match=message):
        from_dict(TrainingState, state, "x", strict=True)


FULL_READ_CASES = [  # (class, value): clean ones, read by the quick path, and faulty ones at every depth
    (HistoryLine, {"epoch": 3, "loss": 1.5, "steps": 7, "trace": [{"step": 0, "loss": 2.0, "sigma_min": 0.1}]}),
    (HistoryLine, {"epoch": 3, "loss": 2, "diverged": False, "trace": [], "new_key": [1, {"a": None}]}),
    (HistoryLine, {"epoch": 3, "lr": None, "trace": None, "extra": 5}),
    (HistoryLine, {"epoch": 3, "trace": [{"step": 0, "loss": float("nan")}]}),
    (HistoryLine, {"epoch": 3, "trace": [{"step": True}, "x", None]}),
    (HistoryLine, {"epoch": 3, "loss": True, "seconds": float("inf"), "diverged": 1}),
    (HistoryLine, {"epoch": 3, "trace": {"step": 0}}),
    (Evaluation, to_dict(evaluation())),
    (Evaluation, {**to_dict(evaluation()), "test": {"elbo": "x", "iwae_k": 1.5}, "sigma": []}),
    (Evaluation, {**to_dict(evaluation()), "schema_version": SCHEMA_VERSION + 1}),
    (TrainingState, {"epoch": 1, "files": {"a": "b"}, "torch_rng": [1, 2], "diverged": None}),
    (TrainingState, {"epoch": 1, "torch_rng": [1, "2"]}),
]


@pytest.mark.parametrize("cls, value", FULL_READ_CASES)
@pytest.mark.parametrize("strict", [False, True])
def test_a_record_reads_as_the_full_field_by_field_reader_reads_it(cls, value, strict):
    """Records without a fault take a quicker path (a history's traces are most of a zoo scan): the record, its
    problems and its refusals are those of the reader that checks every value with its path."""
    from vae_core.files import schema

    def read(reader):
        try:
            return reader()
        except SchemaError as e:
            return e.problem
    quick = read(lambda: parse_dict(cls, value, "f", strict))
    problems: list[Problem] = []
    full = read(lambda: (schema._parse_record(cls, value, "f", "", problems, strict), problems))
    if isinstance(full, tuple) and getattr(full[0], "schema_version", SCHEMA_VERSION) > SCHEMA_VERSION:
        full[1].append(parse_dict(cls, value, "f")[1][-1])  # the newer-version note parse_dict adds to either
    assert quick == full
