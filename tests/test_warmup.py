"""The warm-up a server runs at its start (explorer.warmup, started by serve.py): it loads what the first visitors
ask for under the same cache keys the pages use, so that a page finds it loaded; a zoo it cannot read leaves it
quiet. Uses the tiny zoo of conftest."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest
from tiny_zoo import TINY_MODELS

from explorer import board, cache, context, pages, warmup
from explorer.compute import latent
from vae_core.zoo.checkpoints import scan


def _clear() -> None:
    for cached in (cache.scan_zoo, cache.model, cache.sigma_values, cache.reconstruction, cache.prior_samples):
        cached.clear()


def test_the_warm_up_loads_the_default_datasets_models_the_sigma_page_then_loads_none(zoo, monkeypatch):
    _clear()
    warmed = warmup.warm()
    checkpoints, _ = scan(zoo)
    dataset = context.datasets_of(checkpoints)[0]
    default = context.default_models(checkpoints, dataset)
    assert sorted(warmed) == sorted(n for n in TINY_MODELS if n.startswith(f"{dataset}-"))
    assert warmed[:len(default)] == default  # the default selection first: the pages a visitor opens first

    loads = []
    real = cache.load_model
    monkeypatch.setattr(cache, "load_model", lambda *args: loads.append(args) or real(*args))
    at = AppTest.from_file(str(pages.APP), default_timeout=90)
    at.run()
    at.switch_page(pages.page("sigma").script).run()
    at.toggle(key="sigma_all").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert loads == [], "the sigma page loaded a model again: the warm-up's cache keys differ from the pages'"

    computed = []
    for name in ("reconstruct", "prior_samples"):
        real_compute = getattr(latent, name)
        monkeypatch.setattr(latent, name, lambda *a, real_compute=real_compute, **k: computed.append(a) or
                            real_compute(*a, **k))
    at.switch_page(pages.page("board").script).run()
    sets = board.model_sets([n for n in TINY_MODELS if n.startswith(f"{dataset}-")], dataset)
    for _ in sets:  # "next set" through every named set
        at.button(key="board_set").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(sets) >= 2 and board.set_title(at.session_state["models"], sets) == sets[-1][0]
    assert computed == [], "the board computed a named set's pictures again: the warm-up's differ from the board's"


def test_a_zoo_that_cannot_be_read_leaves_the_warm_up_quiet(zoo, monkeypatch, tmp_path):
    _clear()
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(tmp_path / "no such zoo"))
    monkeypatch.setattr(cache, "LOCAL_ZOO", tmp_path / "no local zoo either")
    cache.resolve.clear()
    assert warmup.warm() == []
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(tmp_path / "empty"))
    cache.resolve.clear()
    assert warmup.warm() == []
