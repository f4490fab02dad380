"""The explorer, run as Streamlit runs it (AppTest): every page with every kind of model, the interactions, the
URL state, bad uploads, a broken or missing zoo, and the Hub-offline fallback. Uses the tiny zoo of conftest."""
from __future__ import annotations

import html
import io
import json
import shutil
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import streamlit as st
from apptest_pages import html_tables, leaderboards, open_leaderboard, open_tab, static_charts
from PIL import Image
from streamlit.testing.v1 import AppTest
from tiny_zoo import NO_SIGMA, TINY_MODELS

from explorer import cache, links, navigation, pages, tables
from explorer.charts import CANVAS
from explorer.compute import latent
from explorer.views import overview, sigma
from vae_core.base.data import load_sample
from vae_core.zoo.checkpoints import load_model

APP = str(pages.APP)
PAGES = ("reconstruct", "sample", "latent", "sigma")  # the pages that show the selected models (url paths)
MNIST = sorted(n for n in TINY_MODELS if n.startswith("mnist-"))


def run(page: str | None = None, timeout: float = 90, **params) -> AppTest:
    """Run app.py (with query parameters), then switch to the page at /``page``; fail on any exception element."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(pages.page(page).script).run()
    assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
                     + [w.value for w in at.warning] + [i.value for i in at.info])


def image_urls(at: AppTest) -> list[str]:
    return [u for img in at.image for u in img.value]


def charts(at: AppTest) -> list:
    return list(at.get("vega_lite_chart"))


# ------------------------------------------------------------------------------------------------ the registry
def test_the_registry_names_each_page_once_and_its_script_exists():
    """Test that every page of explorer/pages.py has a script and its own address, and links name only its pages."""
    addresses = [p.url_path for p in pages.PAGES] + list(pages.old_paths()) + [pages.NOT_FOUND]
    assert len(addresses) == len(set(addresses)), addresses
    assert all(p.path.is_file() and p.path.parent == pages.PAGES_DIR for p in pages.PAGES)
    assert set(links.PARAMS.values()) - {""} <= set(pages.BY_URL)


def test_every_page_file_is_registered_and_every_registered_file_exists():
    """Test that app_pages/ and explorer/pages.PAGES list the same scripts: a page file left out of the registry is
    never served, and a registry line without its file breaks the navigation."""
    on_disk = {p.name for p in pages.PAGES_DIR.glob("*.py") if p.name != "__init__.py"}
    registered = {p.file for p in pages.PAGES}
    assert on_disk - registered == set(), "page files missing from explorer/pages.PAGES"
    assert registered - on_disk == set(), "registry lines whose file is not in app_pages/"


ADDRESSES = [  # (path a browser asks for, whether it names a page)
    ("/", True), ("", True), ("/overview", True), ("/lab", True), ("/lab/", True), ("/likelihood_lab", True),
    ("/1_overview", True), (f"/{pages.NOT_FOUND}", True),
    ("/nope", False), ("/a/b", False), ("/sample/x", False), ("/lab/lab", False), ("/Overview", False),
    ("/static/x.js", False), ("/" + "x/" * 200, False), ("//sample", False), ("/a//b", False), ("//", False),
    (f"/{navigation.ROOT_ID}", False),
]


@pytest.mark.parametrize("path,known", ADDRESSES)
def test_an_address_is_a_page_or_goes_to_the_not_found_page(path, known):
    assert navigation.known_address(path) is known
    if not known:
        target = urlparse(navigation.not_found_address(path))
        assert target.path == f"/{pages.NOT_FOUND}" and navigation.known_address(target.path)
        assert parse_qs(target.query)[pages.MISSING_PARAM][0] == path[:300]


# ------------------------------------------------------------------------------------------------ pages
def test_overview_has_a_leaderboard_per_dataset_a_chart_and_links(zoo):
    at = run()
    assert at.title[0].value == "VAE Decoder Zoo"
    # mnist: 8-bit and binarized tables and all columns; fashion-mnist: its one binarized model and all columns;
    # each table is sent only once its tab and its "All columns" are open
    assert [t.label for t in at.tabs] == ["mnist", "fashion-mnist"] and len(html_tables(at)) == 2
    assert not at.dataframe  # the ranked tables are HTML; the sortable grid is "All columns"
    eight, binarized, every = [*html_tables(open_leaderboard(at, "mnist")), *(d.value for d in at.dataframe)]
    fashion, fashion_every = [*html_tables(open_leaderboard(at, "fashion-mnist")), *(d.value for d in at.dataframe)]
    frames = [eight, binarized, every, fashion, fashion_every]
    assert sorted(eight["model"]) == sorted(n.removeprefix("mnist-") for n in MNIST if "bernoulli-2d" not in n)
    assert list(binarized["model"]) == ["bernoulli-2d"] and sorted(every["model"]) == MNIST
    ev = json.loads((zoo / "mnist-gaussian-pixel" / "eval.json").read_text())
    row = every[every["model"] == "mnist-gaussian-pixel"].iloc[0]
    # no best estimate in the tiny zoo: the IWAE stands in, named a lower bound, and gives no bits/dim of its own
    assert row["estimate"] == f"IWAE k={ev['test']['iwae_k']} (lower bound)" and row["bits/dim"] == tables.MISSING
    assert row["bits/dim (IWAE bound)"] == pytest.approx(ev["test"]["bits_per_dim"]) and row["log-lik"] == (
        pytest.approx(ev["test"]["iwae"]))
    assert list(fashion["model"]) == ["bernoulli"] and list(fashion_every["model"]) == ["fashion-mnist-bernoulli"]
    assert not any(f.isna().any().any() for f in frames)  # a missing number reads as a dash, never "None"
    assert not any(f.isin(["None", "nan", ""]).any().any() for f in (eight, binarized, fashion))  # the HTML ones
    (chart,) = static_charts(at)  # drawn on the server: no Vega chart on the first page
    assert not charts(at) and "<svg" in chart
    assert all(f">{html.escape(group)}</text>" in chart for group in tables.GROUPS.values())  # binarized apart
    body = texts(at)
    assert "Each point is one checkpoint" in body and "not comparable with 8-bit" in body
    links = at.get("page_link")
    assert len(links) == 4 * len(MNIST)
    assert {link.proto.query_string for link in links} == {f"dataset=mnist&models={n}&open=1" for n in MNIST}


def test_a_leaderboard_tab_and_its_all_columns_are_sent_only_once_opened(zoo):
    """Test that a fresh tab of the Overview gets the open tab's tables only, and that opening a tab or an "All
    columns" expander brings its tables (and closing the expander takes its table away again)."""
    at = run()
    models = [sorted(t["model"]) for t in html_tables(at)]
    assert models == [sorted(n.removeprefix("mnist-") for n in MNIST if "bernoulli-2d" not in n), ["bernoulli-2d"]]
    assert not at.expander(key=overview.ALL_COLUMNS.format("mnist")).children  # folded: nothing sent
    every = open_leaderboard(at, "mnist").expander(key=overview.ALL_COLUMNS.format("mnist"))
    assert [sorted(d.value["model"]) for d in every.dataframe] == [MNIST]
    assert len(at.dataframe) == 1 and len(html_tables(at)) == 2
    fashion = open_leaderboard(at, "fashion-mnist", all_columns=False)
    assert [list(t["model"]) for t in html_tables(fashion)] == [["bernoulli"]]  # mnist's tables gone
    assert not fashion.dataframe and not fashion.expander(key=overview.ALL_COLUMNS.format("fashion-mnist")).children
    assert [len(t) for t in html_tables(open_leaderboard(at, "mnist", all_columns=False))] == [len(MNIST) - 1, 1]


def test_a_link_replaces_the_selection_of_a_running_session(zoo):
    at = run("sample", models=["mnist-gaussian-pixel", "mnist-bernoulli-2d"])
    at.query_params.update({"models": "mnist-gaussian-fixed", "dataset": "mnist", "open": "1"})
    at.run()
    assert_ok(at)
    assert at.sidebar.multiselect(key="models").value == ["mnist-gaussian-fixed"] and len(at.image) == 2
    assert "open" not in at.query_params


@pytest.mark.parametrize("page", ["reconstruct", "sample", "sigma"])
def test_every_page_with_every_kind_of_model(zoo, page):
    at = run(page, models=MNIST)
    body = texts(at)
    for name in MNIST:
        assert name in body or page == "sigma"  # the sigma page names models in its charts and table
    if page == "reconstruct":
        # input, mean, sample, log-lik per model; a sigma map for models with sigma; two colour bars
        with_sigma = [n for n in MNIST if n not in NO_SIGMA]
        assert len(at.image) == 4 * len(MNIST) + len(with_sigma) + 2
        assert body.count("No decoder sigma") == len([n for n in MNIST if n in NO_SIGMA])
        assert body.count(">ELBO<") == len(MNIST)
    elif page == "sample":
        assert len(at.image) == 2 * len(MNIST)
    else:  # a fresh tab builds the first section only: sigma, val ELBO, rec and KL per epoch
        assert len(charts(at)) == 4 and not at.dataframe and not at.image
        at = open_tab(at, sigma.SECTION_KEY, "Sigma over test pixels")
        assert len(charts(at)) == 1 and not at.image  # the histogram
        assert sorted(at.dataframe[0].value["model"]) == sorted(set(MNIST) - NO_SIGMA)  # sigma statistics
        assert "Not shown (no sigma): mnist-bernoulli-2d, mnist-continuous-bernoulli" in texts(at)
        at = open_tab(at, sigma.SECTION_KEY, "Snapshots")
        assert not charts(at) and not at.dataframe
        assert "epoch 1" in texts(at) and "epoch 2" in texts(at) and len(at.image) == 4  # a mean and a sample each


def test_the_sigma_pages_charts_are_drawn_on_a_canvas(zoo):
    """Each chart on one canvas, not an SVG element per mark: a fresh tab draws the page faster."""
    at = run("sigma", models=MNIST)
    drawn = charts(at) + charts(open_tab(at, sigma.SECTION_KEY, "Sigma over test pixels"))
    assert [json.loads(c.proto.spec).get("usermeta") for c in drawn] == [CANVAS] * 5


def test_reconstruct_shows_the_numbers_vae_core_computes(zoo):
    at = run("reconstruct", models=["mnist-gaussian-pixel"], idx="5", seed="3")
    assert "test image #5" in "\n".join(h.value for h in at.subheader)
    images, _ = load_sample("mnist")
    out = latent.reconstruct(load_model(zoo / "mnist-gaussian-pixel"), images[5:6], seed=3)
    body = texts(at)
    for value in (out["elbo"][0], out["rec"][0]):
        assert f">{value:.1f}<" in body
    assert f"{out['kl'][0]:.2f}" in body


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_latent_page_for_each_model(zoo, name):
    dataset = "fashion-mnist" if name.startswith("fashion") else "mnist"
    at = run("latent", models=[name], dataset=dataset)
    (cfg,) = [json.loads((zoo / name / "config.json").read_text())]
    assert len(at.slider) == cfg["latent_dim"] + 1  # one per dimension, and the interpolation steps
    spec = json.dumps(json.loads(charts(at)[0].proto.spec))
    assert ("z1" in spec) if cfg["latent_dim"] == 2 else ("PC 1" in spec)
    assert len(at.image) >= 5
    if name in NO_SIGMA:
        assert "No decoder sigma" in texts(at)


def test_sigma_page_says_when_no_model_has_sigma(zoo):
    at = run("sigma", models=["mnist-bernoulli-2d"])
    assert "None of these models has a decoder sigma" in texts(at)
    assert "None of these models has a decoder sigma" in texts(open_tab(at, sigma.SECTION_KEY,
                                                                         "Sigma over test pixels"))
    assert "kept snapshots" in texts(open_tab(at, sigma.SECTION_KEY, "Snapshots"))


# ------------------------------------------------------------------------------------------------ interactions
def test_choosing_models_shows_their_samples(zoo):
    """Test that the sidebar's selection decides whose samples the Sample page draws."""
    at = run("sample", models=["mnist-gaussian-pixel", "mnist-bernoulli-2d"])
    assert len(at.image) == 4  # the decoder means and the full samples, per model
    at.sidebar.multiselect(key="models").set_value(["mnist-gaussian-fixed"]).run()
    assert_ok(at)
    assert len(at.image) == 2 and "mnist-gaussian-fixed" in texts(at)


def test_the_seed_makes_samples_reproducible(zoo):
    at = run("sample", models=["mnist-gaussian-fixed"])
    first = image_urls(at)
    at.sidebar.number_input(key="seed").set_value(1).run()
    assert_ok(at)
    assert image_urls(at) != first
    at.sidebar.number_input(key="seed").set_value(0).run()
    assert image_urls(at) == first


def test_new_samples_moves_to_the_next_seed(zoo):
    at = run("sample", models=["mnist-gaussian-fixed"])
    first = image_urls(at)
    at.button(key="sample_new").click().run()
    assert_ok(at)
    assert at.sidebar.number_input(key="seed").value == 1 and image_urls(at) != first


def test_temperature_zero_changes_the_samples(zoo):
    at = run("sample", models=["mnist-gaussian-fixed"])
    first = image_urls(at)
    at.slider(key="temperature").set_value(0.0).run()
    assert_ok(at)
    assert image_urls(at) != first


def test_the_gap_view_shows_reconstructions_beside_samples(zoo):
    at = run("sample", models=["mnist-gaussian-fixed"])
    at.button_group(key="view").set_value("Gap view").run()
    assert_ok(at)
    assert len(at.image) == 2 and "reconstructions" in " ".join(c for img in at.image for c in img.captions)


def test_url_parameters_restore_a_view(zoo):
    at = run("reconstruct", models=["mnist-gaussian-fixed", "mnist-discretized-gaussian"], seed="7", idx="42")
    assert at.sidebar.multiselect(key="models").value == ["mnist-gaussian-fixed", "mnist-discretized-gaussian"]
    assert at.sidebar.number_input(key="seed").value == 7
    assert at.number_input(key="idx").value == 42
    assert "test image #42" in at.subheader[0].value


def test_picking_images_by_class_and_next(zoo):
    at = run("reconstruct", models=["mnist-bernoulli-2d"], idx="0")
    _, labels = load_sample("mnist")
    at.selectbox(key="pick_class").set_value("3").run()
    assert_ok(at)
    idx = at.number_input(key="idx").value
    assert labels[idx] == 3 and idx == int(np.flatnonzero(labels == 3)[0])
    at.button(key="next_of_class").click().run()
    assert at.number_input(key="idx").value == int(np.flatnonzero(labels == 3)[1])


def test_dataset_switch_selects_that_datasets_models(zoo):
    at = run("sample")
    at.sidebar.selectbox(key="dataset").set_value("fashion-mnist").run()
    assert_ok(at)
    assert at.sidebar.multiselect(key="models").value == ["fashion-mnist-bernoulli"]
    assert len(at.image) == 2


def test_latent_typed_point_and_sliders(zoo):
    at = run("latent", models=["mnist-bernoulli-2d"])
    before = image_urls(at)
    at.number_input(key="plane_x").set_value(1.5)
    at.number_input(key="plane_y").set_value(-1.0)
    at.button(key="plane_decode").click().run()
    assert_ok(at)
    assert "the typed point (1.50, -1.00)" in texts(at)
    assert at.slider(key="zd0").value == pytest.approx(1.5) and at.slider(key="zd1").value == pytest.approx(-1.0)
    after = image_urls(at)
    assert after != before
    at.slider(key="zd1").set_value(2.0).run()
    assert_ok(at)
    assert "from the sliders" in texts(at)


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def _digit() -> Image.Image:
    """The sample's first digit as a photo of paper would show it: dark ink on white, not square."""
    images, _ = load_sample("mnist")
    return Image.fromarray(255 - images[0]).resize((300, 240)).convert("RGB")


def upload(name: str, data: bytes) -> AppTest:
    at = run("reconstruct", models=["mnist-gaussian-pixel", "mnist-bernoulli-2d"], image_source="Upload")
    assert "Upload a picture" in texts(at)
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream")).run()
    assert_ok(at)
    return at


BAD_UPLOADS = [  # (file name, bytes)
    ("notes.txt", b"this is not an image"),
    ("empty.png", b""),
    ("truncated.png", _png(_digit())[:300]),
    ("bomb.png", _png(Image.new("1", (6000, 6000)))),
]


@pytest.mark.parametrize(("name", "data"), BAD_UPLOADS, ids=[n for n, _ in BAD_UPLOADS])
def test_a_bad_upload_gets_one_error_naming_the_file(zoo, name, data):
    at = upload(name, data)
    assert len(at.error) == 1 and name in at.error[0].value


def test_a_photo_of_a_digit_is_preprocessed_step_by_step(zoo):
    at = upload("digit.jpg", _png(_digit(), "JPEG"))
    assert not at.error
    assert "Preprocessing" in texts(at) and "inverted" in texts(at) and "upload digit.jpg" in at.subheader[0].value
    steps = [c for img in at.image for c in img.captions][:5]
    assert steps == ["uploaded", "grey", "inverted", "cropped to the ink", "28 x 28, centred"]


# ------------------------------------------------------------------------------------------------ faults
def test_hub_source_offline_falls_back_to_the_local_zoo(zoo, monkeypatch):
    monkeypatch.setenv("VAE_ZOO_SOURCE", "someone/vae-zoo")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    at = run()
    (warning,) = at.warning
    assert "someone/vae-zoo" in warning.value and "Showing the local zoo" in warning.value
    assert warning.value.count(". ") <= 1  # one sentence, then where it fell back to
    assert sorted(leaderboards(at)[0]["model"]) == MNIST
    assert at.sidebar.text_input(key="zoo_revision")  # a Hub id gets a revision box


def test_hub_offline_without_a_local_zoo_gives_instructions(zoo, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_ZOO_SOURCE", "someone/vae-zoo")
    monkeypatch.setattr(cache, "LOCAL_ZOO", tmp_path / "absent")
    for page in (None, "reconstruct"):
        at = run(page)
        assert "could not fetch someone/vae-zoo" in texts(at).lower()
        assert "train.py --zoo zoo.toml" in at.error[0].value


def test_empty_zoo_gives_instructions_on_every_page(zoo, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(tmp_path))
    for page in (None, *PAGES):
        at = run(page)
        assert "No checkpoints could be loaded" in at.error[0].value


def test_partly_broken_zoo_shows_what_loaded(zoo, monkeypatch, tmp_path):
    for name in ("mnist-gaussian-pixel", "mnist-bernoulli-2d"):
        shutil.copytree(zoo / name, tmp_path / name)
    (tmp_path / "no-weights").mkdir()
    shutil.copy(zoo / "mnist-bernoulli-2d" / "config.json", tmp_path / "no-weights")
    (tmp_path / "bad-config").mkdir()
    (tmp_path / "bad-config" / "config.json").write_text("{not json")
    (tmp_path / "bad-config" / "model.safetensors").write_bytes(b"x")
    shutil.copytree(zoo / "mnist-gaussian-fixed", tmp_path / "corrupt-weights")
    (tmp_path / "corrupt-weights" / "model.safetensors").write_bytes(b"\x00" * 64)
    (tmp_path / "mnist-gaussian-pixel" / "eval.json").write_text("{broken")  # unreadable evaluation: n/a
    monkeypatch.setenv("VAE_ZOO_SOURCE", str(tmp_path))
    at = run()
    assert "2 folder(s)" in at.warning[0].value
    assert sorted(leaderboards(at)[0]["model"]) == ["corrupt-weights", "mnist-bernoulli-2d", "mnist-gaussian-pixel"]
    at = run("reconstruct", models=["corrupt-weights", "mnist-gaussian-pixel"])
    assert "`corrupt-weights` cannot be loaded" in at.error[0].value
    assert "mnist-gaussian-pixel" in texts(at) and len(at.image) >= 5


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test sees its own zoo folder: keep one test's scan or resolution from answering the next."""
    cache.resolve.clear()
    cache.scan_zoo.clear()
    yield
    st.cache_data.clear()
