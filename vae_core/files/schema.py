"""The files a checkpoint folder holds beside its weights, as typed records with a version:

    eval.json              Evaluation (test metrics, sigma, Frechet distances, training summary, best log p)
    history.jsonl          HistoryLine, one JSON object per epoch
    training_state.json    TrainingState, the commit record of the last saved epoch (vae_core.training.run_folder)

Writers build a record and call ``to_json``; readers call ``parse_json`` (or ``parse_dict``), which treats the text
as untrusted: a value of the wrong type, or a non-finite number, is read as missing (None) and reported as a
``Problem`` naming its field path, a section that is not an object likewise, keys this version does not know are
kept in ``extra``. ``from_json`` / ``from_dict`` read the same way and give each problem as its sentence only.
JSON has no inf or NaN, so a writer's non-finite numbers become null and are listed under ``nonfinite``.
Readers then use the record's attributes (``ev.test.iwae``): every value there has its declared type or is None.
"""
from __future__ import annotations

import functools
import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass

SCHEMA_VERSION = 1  # files without the key were written before it existed and read as version 1
VERSION_KEY = "schema_version"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, for readers to act on by field without parsing the sentence."""
    where: str     # the file (or line) as the message names it, e.g. "mnist-bernoulli/eval.json"
    path: str      # dotted path of the field at fault ("test.iwae", "trace[1]"); "" for the file as a whole
    message: str   # one sentence for a person: the file, the field, what it holds and what is acceptable

    def __str__(self) -> str:
        return self.message


class SchemaError(ValueError):
    """A file cannot be read as its record at all (not JSON, not an object, no usable key field); ``problem``
    says where. A bare sentence is accepted too (a Problem with no file or path)."""

    def __init__(self, problem: Problem | str):
        if isinstance(problem, str):
            problem = Problem("", "", problem)
        super().__init__(problem.message)
        self.problem = problem

    def __reduce__(self):  # pickled (e.g. across processes) with its problem, not only the sentence
        return type(self), (self.problem,)


# ------------------------------------------------------------------------------------------------ records
@dataclass
class Metrics:
    """eval.json "test": the test-set numbers."""
    num_images: int | None = None
    elbo: float | None = None             # nats, one-sample ELBO, mean over num_images
    elbo_stderr: float | None = None
    rec: float | None = None              # E_q log p(x|z)
    kl: float | None = None               # KL(q(z|x) || p(z))
    mse: float | None = None
    active_units: int | None = None       # Burda et al. 2016: Cov_x E_q[z] > 0.01
    iwae: float | None = None             # IWAE_k, a lower bound on log p(x) (Burda et al. 2016)
    iwae_stderr: float | None = None
    iwae_k: int | None = None
    iwae_images: int | None = None
    bits_per_dim: float | None = None     # from IWAE; None for unbounded (raw) data


@dataclass
class SigmaStats:
    mean: float | None = None
    min: float | None = None
    median: float | None = None
    frac_below_0_01: float | None = field(default=None, metadata={"key": "frac_below_0.01"})


@dataclass
class Frechet:
    samples: float | None = None
    sample_means: float | None = None
    reconstructions: float | None = None
    reconstruction_means: float | None = None
    num_images: int | None = None
    reference: str | None = None


@dataclass
class EmbeddedSample:
    num_images: int | None = None
    elbo: float | None = None
    mse: float | None = None


@dataclass
class TrainingSummary:
    epochs: int | None = None
    seconds: float | None = None
    diverged_at_epoch: int | None = None
    diverged_at_step: int | None = None
    weights_from_step: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    seed: int | None = None


@dataclass
class BestLogLikelihood:
    """evaluation.best_likelihood: exact quadrature (2-D) or AIS (a stochastic lower bound), paired with IWAE and
    the ELBO on the same images."""
    method: str | None = None
    bound: str | None = None
    settings: dict = field(default_factory=dict)
    num_images: int | None = None
    excluded_images: int | None = None
    images: str | None = None
    estimate: float | None = None
    estimate_stderr: float | None = None
    bits_per_dim: float | None = None
    iwae_k: int | None = None
    iwae: float | None = None
    iwae_stderr: float | None = None
    elbo: float | None = None
    elbo_stderr: float | None = None
    best_minus_iwae: float | None = None
    best_minus_iwae_stderr: float | None = None
    best_minus_elbo: float | None = None
    best_minus_elbo_stderr: float | None = None
    seconds: float | None = None
    seconds_total: float | None = None
    device: str | None = None                       # cpu | cuda | mps; None: computed before devices, on the CPU
    warning: str | None = None
    # quadrature
    numerical_error_max: float | None = None
    numerical_error_mean: float | None = None
    flag_reasons: list = field(default_factory=list)
    # AIS
    acceptance: float | None = None
    images_with_rejected_nonfinite_proposals: int | None = None
    frozen_chains: int | None = None  # chains that could not move from their start (vae_core.evaluation.ais.AISResult)
    chain_stderr_mean: float | None = None
    images_far_below_iwae: int | None = None
    compiled_likelihood: bool | None = None  # the likelihood gradient fused by torch.compile (vae_core.evaluation.ais)
    # AIS against the other lower bounds and its BDMC sandwich (best_likelihood.sandwich)
    wider_iwae_k: int | None = None
    wider_iwae_scale: float | None = None       # the proposal: q(z|x) with its standard deviations times this
    wider_iwae: float | None = None
    wider_iwae_stderr: float | None = None
    best_minus_wider_iwae: float | None = None
    best_minus_wider_iwae_stderr: float | None = None
    bdmc_images: int | None = None              # simulated from the model (z ~ p(z), x ~ p(x|z)), not test images
    bdmc_lower: float | None = None             # forward AIS at the block's settings: a stochastic lower bound
    bdmc_upper: float | None = None             # reverse AIS from the exact z: a stochastic upper bound
    bdmc_gap: float | None = None               # upper - lower: how far AIS at these settings can miss log p(x)
    bdmc_gap_stderr: float | None = None
    bdmc_nonfinite_images: int | None = None    # simulated images with a bound that is not finite (then gap: null)
    bdmc_target: float | None = None            # the gap a best estimate should reach (issue 22), in nats
    sandwich_seconds: float | None = None


@dataclass
class Evaluation:
    """eval.json."""
    name: str | None = None
    dataset: str | None = None
    decoder: str | None = None
    latent_dim: int | None = None
    data_kind: str | None = None
    description: str | None = None
    test: Metrics | None = None
    sigma: SigmaStats | None = None
    frechet: Frechet | None = None
    embedded_sample: EmbeddedSample | None = None
    training: TrainingSummary | None = None
    evaluation_seconds: float | None = None
    evaluation_device: str | None = None            # cpu | cuda | mps; None: evaluated before devices, on the CPU
    log_likelihood: BestLogLikelihood | None = None
    nonfinite: list = field(default_factory=list)   # dotted paths of numbers that were inf or NaN when written
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)       # keys this version does not know, kept as read


@dataclass
class TracePoint:
    step: int | None = None
    loss: float | None = None
    # the smallest decoder sigma observed (this batch, at the sampled z): not the floor setting sigma_min of the
    # gaussian-pixel-floor likelihood, though the file keeps the key it always had
    smallest_sigma: float | None = field(default=None, metadata={"key": "sigma_min"})


@dataclass
class HistoryLine:
    """One line of history.jsonl: the epoch's means, its validation and, if it stopped, where and why."""
    epoch: int
    lr: float | None = None
    loss: float | None = None
    rec: float | None = None
    kl: float | None = None
    loss_max: float | None = None         # the largest batch loss of the epoch
    steps: int | None = None              # updates applied
    skipped_steps: int | None = None      # batches dropped, their loss or gradient not finite (skip_nonfinite)
    val_elbo: float | None = None
    sigma_mean: float | None = None
    # the smallest decoder sigma on the validation probe (file key sigma_min; not the floor setting)
    smallest_sigma: float | None = field(default=None, metadata={"key": "sigma_min"})
    seconds: float | None = None          # wall clock of the epoch, validation and save included
    cpu_seconds: float | None = None      # process CPU time of the same (all threads): what a busy machine adds
    trace: list[TracePoint] = field(default_factory=list)  # every TRACE_EVERY steps and the last; see TRACE_EPOCHS
    diverged: bool | None = None
    diverged_step: int | None = None
    diverged_reason: str | None = None
    weights_from_step: int | None = None
    optimizer_restarted: bool | None = None  # this epoch began a resume with Adam started afresh
    kl_weight: float | None = None           # the KL term's weight at the end of a warm-up epoch (kl_warmup_epochs)
    extra: dict = field(default_factory=dict)


@dataclass
class TrainingState:
    """training_state.json: renamed into place, it commits an epoch (training.run_folder's docstring)."""
    epoch: int
    files: dict | None = None              # path relative to the folder -> sha256; None: written before commits
    train_config: dict | None = None       # asdict(TrainConfig)
    diverged: dict | None = None           # epoch, step, reason, weights_from_step of a run that stopped
    adam: str | None = None                # the Adam implementation the optimizer state belongs to (None: legacy)
    torch_rng: list[int] | None = None
    device: str | None = None
    device_rng: list[int] | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ writing
def finite_or_none(value, path: str = "", found: list[str] | None = None):
    """``value`` with every non-finite float replaced by None (JSON has no inf or NaN); the dotted paths of the
    replaced ones are appended to ``found``."""
    if isinstance(value, dict):
        return {k: finite_or_none(v, f"{path}.{k}".lstrip("."), found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        if found is not None:
            found.append(f"{path} ({value})")
        return None
    return value


def to_dict(record, drop_none: bool = False) -> dict:
    """The record as the JSON object its file holds: keys as written (``metadata['key']``), ``extra`` merged back.
    ``drop_none`` leaves out fields that are None (history lines: a key is there only when the epoch has it)."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.name == "extra":
            out.update(value)
        elif value is None and drop_none:
            continue
        elif is_dataclass(value):
            out[_key(f)] = to_dict(value, drop_none)
        elif isinstance(value, list):
            out[_key(f)] = [to_dict(v, drop_none) if is_dataclass(v) else v for v in value]
        else:
            out[_key(f)] = value
    return out


def to_json(record, indent: int | None = 2, drop_none: bool = False) -> str:
    """Strict JSON for the record. Non-finite numbers become null; an Evaluation lists them under ``nonfinite``."""
    found: list[str] = []
    d = finite_or_none(to_dict(record, drop_none), found=found)
    if found and "nonfinite" in d:
        d["nonfinite"] = sorted(set(d["nonfinite"]) | set(found))
    return json.dumps(d, indent=indent, allow_nan=False)


# ------------------------------------------------------------------------------------------------ reading
def parse_json(cls, text: str, where: str, strict: bool = False) -> tuple:
    """(record, problems) from a file's text; SchemaError when it is not a JSON object at all."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _error(where, "", f"{where} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    return parse_dict(cls, value, where, strict)


def parse_dict(cls, value, where: str, strict: bool = False) -> tuple:
    """(record, problems): every field checked against its type. Wrong types and non-finite numbers are read as
    missing, each a Problem; a required field (no default) that is missing or wrong is a SchemaError, and with
    ``strict`` (a commit record, which is either whole or not one) any wrong value is."""
    if not isinstance(value, dict):
        raise _error(where, "", f"{where} holds {type_name(value)} where a JSON object is expected")
    problems: list[Problem] = []
    record = _clean_record(cls, value)  # most records have no fault: read without building a path per value
    if record is _NOT_CLEAN:
        record = _parse_record(cls, value, where, "", problems, strict)
    version = getattr(record, VERSION_KEY, SCHEMA_VERSION)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        problems.append(Problem(where, VERSION_KEY, f"{where} was written by a newer version (schema {version}, "
                                f"this one reads {SCHEMA_VERSION}); read as far as this version understands it."))
    return record, problems


def from_json(cls, text: str, where: str, strict: bool = False) -> tuple:
    """(record, notes): ``parse_json`` with each problem as its sentence, for callers that only show them."""
    record, problems = parse_json(cls, text, where, strict)
    return record, [p.message for p in problems]


def from_dict(cls, value, where: str, strict: bool = False) -> tuple:
    """(record, notes): ``parse_dict`` with each problem as its sentence, for callers that only show them."""
    record, problems = parse_dict(cls, value, where, strict)
    return record, [p.message for p in problems]


def _error(where: str, path: str, message: str) -> SchemaError:
    return SchemaError(Problem(where, path, message))


@functools.cache
def _layout(cls) -> tuple[dict, tuple, bool]:
    """A record class's fields by JSON key with the parser of each one's type, its required fields, and whether it
    keeps extra keys: resolved once per class, not once per record (a history of thousands of lines spent most of
    its parsing time in typing.get_type_hints and get_args)."""
    hints = typing.get_type_hints(cls)
    known = {_key(f): (f, hints[f.name]) for f in fields(cls)}
    required = tuple(f for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)
    return known, required, "extra" in known


def _parse_record(cls, d: dict, where: str, prefix: str, problems: list[Problem], strict: bool = False):
    known, required, keeps_extra = _layout(cls)
    kwargs, extra = {}, {}
    for key, value in d.items():
        f, tp = known.get(key, (None, None))
        if f is None or f.name == "extra":
            extra[key] = value
            continue
        path = f"{prefix}{key}"
        parsed, ok = _parser(tp)(value, where, path, problems, strict)
        if ok:
            kwargs[f.name] = parsed
            continue
        wrong = f"{where}: {path} is {_describe(value)}, not {_type_label(tp)}"
        if strict or (f.default is MISSING and f.default_factory is MISSING):
            raise _error(where, path, wrong)
        problems.append(Problem(where, path, f"{wrong}; shown as n/a."))
    for f in required:
        if f.name not in kwargs:
            raise _error(where, f"{prefix}{_key(f)}", f"{where}: no {prefix}{_key(f)}")
    if keeps_extra:
        kwargs["extra"] = extra
    return cls(**kwargs)


_NOT_CLEAN = object()  # what a clean reader returns for a value that has a fault: read again by the full reader


@functools.cache
def _clean_layout(cls) -> dict:
    """A record class's fields by JSON key as (field name, clean reader of its type); ``extra`` left out."""
    known, _, _ = _layout(cls)
    return {key: (f.name, _clean_parser(tp)) for key, (f, tp) in known.items() if f.name != "extra"}


def _clean_record(cls, d: dict):
    """The record that ``_parse_record`` returns for ``d`` when ``d`` has no fault at any depth (no Problem, no
    SchemaError); ``_NOT_CLEAN`` otherwise. A history line's trace holds about a hundred points: checking them
    without building each value's path for a message that is never written reads a history several times faster."""
    known, required, keeps_extra = _layout(cls)
    clean = _clean_layout(cls)
    kwargs, extra = {}, {}
    for key, value in d.items():
        spec = clean.get(key)
        if spec is None:
            extra[key] = value
            continue
        parsed = spec[1](value)
        if parsed is _NOT_CLEAN:
            return _NOT_CLEAN
        kwargs[spec[0]] = parsed
    for f in required:
        if f.name not in kwargs:
            return _NOT_CLEAN
    if keeps_extra:
        kwargs["extra"] = extra
    return cls(**kwargs)


@functools.cache
def _clean_parser(tp, optional: bool = False):
    """value -> what ``_parser(tp)`` reads it as, when that adds no Problem; ``_NOT_CLEAN`` otherwise."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _clean_parser(next(a for a in args if a is not type(None)), type(None) in args)
    if is_dataclass(tp):
        return lambda value: (_clean_record(tp, value) if isinstance(value, dict)
                              else None if value is None and optional else _NOT_CLEAN)
    if (tp is list or typing.get_origin(tp) is list) and args:
        item = _clean_parser(args[0])

        def parse_list(value):
            if not isinstance(value, list):
                return None if value is None and optional else _NOT_CLEAN
            items = []
            for one in value:
                parsed = item(one)
                if parsed is _NOT_CLEAN:
                    return _NOT_CLEAN
                items.append(parsed)
            return items
        return parse_list
    full = _parser(tp | None if optional else tp)  # a scalar, dict or bare list: never a Problem of its own
    exact = tp if tp in (float, int, str, bool) else None  # the type JSON gives for a value that needs no check

    def parse_scalar(value):
        if type(value) is exact and (exact is not float or math.isfinite(value)):
            return value
        parsed, ok = full(value, "", "", None, False)
        return parsed if ok else _NOT_CLEAN
    return parse_scalar


def _parse_value(tp, value, where: str, path: str, problems: list[Problem], strict: bool = False
                 ) -> tuple[object, bool]:
    """(parsed, True) when ``value`` fits type ``tp``; (None, False) otherwise. None fits every optional type."""
    return _parser(tp)(value, where, path, problems, strict)


@functools.cache
def _parser(tp):
    """The function ``_parse_value`` applies for type ``tp``, built once per type."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = _parser(next(a for a in args if a is not type(None)))
        if type(None) not in args:
            return inner
        return lambda value, *rest: (None, True) if value is None else inner(value, *rest)
    if is_dataclass(tp):
        return lambda value, where, path, problems, strict: (
            (_parse_record(tp, value, where, f"{path}.", problems, strict), True) if isinstance(value, dict)
            else (None, False))
    if tp is float:
        return lambda value, *_: (float(value), True) if is_number(value) and math.isfinite(value) else (None, False)
    if tp is int:
        return lambda value, *_: (value, True) if is_int(value) else (None, False)
    if tp is bool or tp is str:
        return lambda value, *_: (value, True) if isinstance(value, tp) else (None, False)
    if tp is dict or typing.get_origin(tp) is dict:
        return lambda value, *_: (value, True) if isinstance(value, dict) else (None, False)
    if tp is list or typing.get_origin(tp) is list:
        return _list_parser(_parser(args[0]) if args else None)
    raise TypeError(f"schema field type {tp} is not supported")  # a programming error, not a bad file


def _list_parser(item):
    def parse(value, where: str, path: str, problems: list[Problem], strict: bool):
        if not isinstance(value, list):
            return None, False
        if item is None:
            return value, True
        items = []
        for i, one in enumerate(value):
            parsed, ok = item(one, where, f"{path}[{i}]", problems, strict)
            if ok:
                items.append(parsed)
                continue
            wrong = f"{where}: {path}[{i}] is {_describe(one)}"
            if strict:
                raise _error(where, f"{path}[{i}]", wrong)
            problems.append(Problem(where, f"{path}[{i}]", f"{wrong}; skipped."))
        return items, True
    return parse


def _key(f) -> str:
    return f.metadata.get("key", f.name)


def is_int(v) -> bool:
    """An integer in JSON's sense: not a boolean."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    """A JSON number (int or float, finite or not), not a boolean."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def or_nan(value: float | None) -> float:
    """A record's number as a float, NaN where it is missing (None): how tables and charts show n/a."""
    return math.nan if value is None else float(value)


def type_name(v) -> str:
    """What a JSON value is, as a message names it ('a string', 'a list', ...)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number" if is_number(v) else type(v).__name__)


def _describe(v) -> str:
    if is_number(v) and not math.isfinite(v):
        return f"{v}"
    return type_name(v)


def _type_label(tp) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    a = args[0]
    return {float: "a finite number", int: "an integer", str: "a string", bool: "a boolean", dict: "an object"}.get(
        a, "an object" if is_dataclass(a) else "a list")
