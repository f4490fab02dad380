"""The first page after a server start does without torch (issue 20: within 5 s of the start; measured by
scripts/bench_presenter.py): the Overview, run as Streamlit runs it, imports no torch; the zoo scan refuses a bad
config.json with the sentence building its model would raise; the server's warm-up imports torch only once a first
page has run. Each import check runs in a fresh interpreter, where nothing has imported torch yet. Uses the tiny zoo
of conftest."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer import charts, pages
from vae_core.files.names import CONFIG_NAME
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.checkpoints import ZooError, read_config

ROOT = pages.APP.parent

OVERVIEW = f"""
import json, sys
from streamlit.testing.v1 import AppTest
from explorer import warmup
at = AppTest.from_file({str(pages.APP)!r}, default_timeout=120)
at.run()
print(json.dumps({{"torch": "torch" in sys.modules, "errors": [str(e.value) for e in at.exception],
                  "title": [t.value for t in at.title],
                  "charts": sum(m.value.startswith('<div class="{charts.STATIC_CLASS}"') for m in at.markdown),
                  "signalled": warmup.FIRST_PAGE.is_set()}}))
"""
WARM_UP = """
import json, sys, time
from explorer import warmup
thread = warmup.start()
waiting = warmup.WAITING.wait(300) and "torch" not in sys.modules  # the zoo read, the models not yet
warmup.first_page_ran()
for _ in range(1200):  # the models come next, at a lowered priority once the default selection is in (polite)
    if "torch" in sys.modules:
        break
    time.sleep(0.25)
print(json.dumps({"waited_without_torch": waiting, "torch": "torch" in sys.modules}))
"""


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter at the repository root (the environment as the test set it); its last line
    of output, as JSON."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_overview_page_runs_without_importing_torch(zoo):
    seen = _fresh(OVERVIEW)
    assert seen["errors"] == [] and seen["title"] == ["VAE Decoder Zoo"] and seen["charts"] >= 1, seen
    assert not seen["torch"], "the Overview page imported torch: a module on its path imports it at the top"
    assert seen["signalled"], "app.py did not tell the warm-up that a page ran"


def test_the_warm_up_imports_torch_only_after_a_first_page(zoo):
    seen = _fresh(WARM_UP)
    assert seen["waited_without_torch"], "the warm-up imported torch (or ended) before any page ran"
    assert seen["torch"], "the warm-up did not go on to the models once a page had run"


BAD_CONFIGS = {  # config.json -> what is wrong; each passes the type checks, so only building the model would tell
    "unknown decoder": {"decoder": "laplace-pixel"},
    "unknown setting": {"decoder": "gaussian-fixed", "decoder_settings": {"sigmaa": 0.1}},
    "a setting for a decoder with none": {"decoder": "bernoulli", "decoder_settings": {"sigma": 0.1}},
    "zero sigma": {"decoder": "gaussian-fixed", "decoder_settings": {"sigma": 0.0}},
    "negative init_sigma": {"decoder": "gaussian-shared", "decoder_settings": {"init_sigma": -1.0}},
    "momentum above 1": {"decoder": "gaussian-optimal", "decoder_settings": {"momentum": 2.0}},
    "zero sigma_min": {"decoder": "gaussian-pixel-floor", "decoder_settings": {"sigma_min": 0}},
    "free_mean not a boolean": {"decoder": "discretized-gaussian", "decoder_settings": {"free_mean": 0.5}},
    "data kind the decoder cannot model": {"decoder": "bernoulli", "data_kind": "continuous"},
    "unknown architecture": {"architecture": "transformer"},
    "unknown activation": {"activation": "swish"},
    "three conv widths": {"architecture": "conv", "conv_channels": [8, 16, 32]},
    "res blocks on an MLP": {"res_blocks": 1},
}


def _built(d: dict) -> str | None:
    """The first line of what building the model on the meta device raises for config ``d``, or None."""
    try:
        with torch.device("meta"):
            VAE(VAEConfig.from_dict(d))
    except (TypeError, ValueError, RuntimeError) as e:
        return str(e).splitlines()[0][:200]
    return None


@pytest.mark.parametrize("config", BAD_CONFIGS.values(), ids=list(BAD_CONFIGS))
def test_the_scan_refuses_what_building_the_model_refuses_in_the_same_sentence(tmp_path: Path, config: dict):
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    built = _built(config)
    assert built is not None, "building this model succeeds: the case tests nothing"
    with pytest.raises(ZooError) as e:
        read_config(tmp_path)
    assert str(e.value) == f"{tmp_path}: malformed {CONFIG_NAME} ({built})"


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian-optimal", "discretized-gaussian"])
def test_the_scan_accepts_what_builds(tmp_path: Path, decoder: str):
    config = {"decoder": decoder, "architecture": "conv", "res_blocks": 1, "conv_channels": [12, 20]}
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    assert _built(config) is None and read_config(tmp_path) == VAEConfig.from_dict(config)


def test_no_shipped_history_holds_a_trace_the_trainer_would_drop():
    """Every server's zoo scan parses every history.jsonl before its first page: a history with a step trace in each
    of its 1,093 epochs (5.7 MB) cost that page 0.4 s. Such a file is compacted by scripts/compact_histories.py."""
    from vae_core.files.names import HISTORY_NAME
    from vae_core.files.schema import HistoryLine, from_json
    from vae_core.training.loop import keeps_trace

    kept_too_much = []
    for path in sorted((ROOT / "checkpoints").glob(f"*/{HISTORY_NAME}")):
        lines = (from_json(HistoryLine, text, HISTORY_NAME)[0] for text in path.read_text().splitlines() if text)
        kept_too_much += [f"{path.parent.name} epoch {line.epoch}" for line in lines
                          if line.trace and not keeps_trace(line)]
    assert not kept_too_much, kept_too_much[:3]


@pytest.mark.browser
def test_the_overview_chart_is_kept_on_disk_and_an_unwritable_home_still_shows_it(tiny_zoo, tmp_path: Path):
    """A restarted server finds the Overview's picture in ~/.streamlit/cache (charts.kept_picture) instead of
    starting the renderer; where that folder cannot be written, the page shows the chart all the same."""
    from explorer.browser import CHROMIUM, chromium, counts, streamlit_server, visit

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    home, unwritable = tmp_path / "home", tmp_path / "unwritable"
    home.mkdir()
    (unwritable / ".streamlit").mkdir(parents=True)
    (unwritable / ".streamlit" / "cache").write_text("a file where the cache folder goes: unwritable, even by root")

    def shows_the_chart(page) -> None:
        found = counts(page)
        assert found["static charts"] == 1 and found["exceptions"] == 0, found

    kept = []
    for own_home in (home, home, unwritable):  # the second start finds the first's picture
        with streamlit_server(tiny_zoo, env={"HOME": str(own_home)}) as (url, _), chromium() as page:
            visit(page, url, check=lambda: shows_the_chart(page))
        if own_home == home:
            kept.append({f.name: f.stat().st_mtime_ns for f in (home / ".streamlit" / "cache").iterdir()})
    assert len(kept[0]) == 1 and next(iter(kept[0])).endswith(".memo")
    assert kept[1] == kept[0]  # read, not drawn and written again


def test_the_kept_and_the_plain_picture_do_not_empty_each_other(monkeypatch):
    """Two caches of one drawing: Streamlit names a cache by its function's code, and one function cached twice with
    other settings would have each call empty the other's cache (and draw again)."""
    import uuid

    from explorer import svg_worker

    drawn = []
    monkeypatch.setattr(svg_worker, "draw", lambda spec, png_scale=None: drawn.append(spec) or "<svg></svg>")
    a, b = (json.dumps({"chart": str(uuid.uuid4())}) for _ in range(2))
    for _ in range(2):
        charts.picture(a)
        charts.kept_picture(b, charts.DRAWING_VERSION)
    assert drawn == [a, b]
