"""The explorer under hostile or careless input (issue 10): damaged checkpoints, bad links, odd zoo sources and
the locked mode. Each family is a table; every case runs the real loader or the real app (AppTest) on copies of
the tiny zoo's checkpoints, damaged in place. The same tables fuzz the static site (issue 21; issue 25 item 5): each
damage of a checkpoint at export time, and each bad link value on every view of the exported site in Chromium."""
from __future__ import annotations

import ast
import importlib
import json
import re
import shutil
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from apptest_pages import open_page, open_tab
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Element
from test_app import APP, _fresh_caches, assert_ok, texts  # noqa: F401 (an autouse fixture)

from explorer import cache, links, pages
from explorer.access import LOCKED_ENV
from explorer.browser import CHROMIUM, chromium
from explorer.context import OPEN
from explorer.static_site import SITE_SOURCE, ExportError, export_site, serve_folder
from explorer.views import sigma
from vae_core.zoo.checkpoints import ZooError, load_model, load_snapshot, read_index, scan

VICTIM = "mnist-gaussian-pixel"  # has every artefact: eval.json, history.jsonl with sigma, two snapshots
INTACT = "mnist-bernoulli-2d"
APP_FILES = [pages.APP, *pages.PAGES_DIR.glob("*.py"), *(pages.ROOT / "explorer").rglob("*.py")]  # the app's code


# ------------------------------------------------------------------------------------------------ damage
def _write(name: str, data: bytes | str):
    def damage(folder: Path):
        path = folder / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return damage


def _remove(name: str):
    return lambda folder: (folder / name).unlink()


def _truncate(name: str, keep: float = 0.5):
    def damage(folder: Path):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])
    return damage


def _config(**changes):
    def damage(folder: Path):
        cfg = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**cfg, **changes}))
    return damage


def _weights(edit, snapshot: str | None = None):
    """Rewrite a safetensors file through ``edit(tensors)`` (a real, well-formed file with other contents)."""
    from safetensors.torch import load_file, save_file

    def damage(folder: Path):
        path = (folder / "snapshots" / snapshot if snapshot else folder) / "model.safetensors"
        tensors = load_file(str(path))
        edit(tensors)
        save_file(tensors, str(path))
    return damage


def _first_weight(tensors, value):
    key = sorted(k for k in tensors if tensors[k].is_floating_point())[0]
    tensors[key][0].fill_(value)


def _shrink(tensors):
    key = sorted(tensors)[0]
    tensors[key] = tensors[key][:1].clone()


def _history(*lines: str):
    def damage(folder: Path):
        good = (folder / "history.jsonl").read_text().splitlines()
        (folder / "history.jsonl").write_text("\n".join([good[0], *lines, *good[1:]]) + "\n")
    return damage


def _eval(**changes):
    def damage(folder: Path):
        ev = json.loads((folder / "eval.json").read_text())
        for dotted, value in changes.items():
            section, _, key = dotted.partition("__")
            if key:
                ev[section][key] = value
            else:
                ev[section] = value
        (folder / "eval.json").write_text(json.dumps(ev))
    return damage


def _snapshot_dir_as_file(folder: Path):
    shutil.rmtree(folder / "snapshots")
    (folder / "snapshots").write_text("not a folder")


# (file, damage) -> (how to damage the victim, where the fault shows: "scan" a problem, "load" a ZooError when the
# weights load, "snapshot" a ZooError when a snapshot loads, "note" a note on a checkpoint that still loads)
DAMAGE = {
    ("config.json", "missing"): (_remove("config.json"), "scan"),
    ("config.json", "empty"): (_write("config.json", ""), "scan"),
    ("config.json", "truncated"): (_truncate("config.json"), "scan"),
    ("config.json", "not JSON"): (_write("config.json", b"\x89PNG\r\n\x1a\n\x00\xff"), "scan"),
    ("config.json", "a list"): (_write("config.json", "[1, 2]"), "scan"),
    ("config.json", "a string"): (_write("config.json", '"mnist"'), "scan"),
    ("config.json", "null"): (_write("config.json", "null"), "scan"),
    ("config.json", "latent_dim a string"): (_config(latent_dim="four"), "scan"),
    ("config.json", "latent_dim 0"): (_config(latent_dim=0), "scan"),
    ("config.json", "latent_dim 2.5"): (_config(latent_dim=2.5), "scan"),
    ("config.json", "hidden a number"): (_config(hidden=64), "scan"),
    ("config.json", "hidden negative"): (_config(hidden=[-3]), "scan"),
    ("config.json", "settings a string"): (_config(decoder_settings="x"), "scan"),
    ("config.json", "settings unknown key"): (_config(decoder_settings={"foo": 1}), "scan"),
    ("config.json", "unknown dataset"): (_config(dataset="cifar-10"), "scan"),
    ("config.json", "unknown decoder"): (_config(decoder="laplace-pixel"), "scan"),
    ("config.json", "unknown key"): (_config(epochz=3), "scan"),
    ("config.json", "huge width"): (_config(hidden=[10**9]), "scan"),
    ("model.safetensors", "missing"): (_remove("model.safetensors"), "scan"),
    ("model.safetensors", "empty"): (_write("model.safetensors", b""), "load"),
    ("model.safetensors", "truncated"): (_truncate("model.safetensors"), "load"),
    ("model.safetensors", "not safetensors"): (_write("model.safetensors", b"\x80\x04pickle, not safetensors"), "load"),
    ("model.safetensors", "header lies"): (_write("model.safetensors", struct.pack("<Q", 2**40) + b"{}"), "load"),
    ("model.safetensors", "NaN weights"): (_weights(lambda t: _first_weight(t, float("nan"))), "load"),
    ("model.safetensors", "inf weights"): (_weights(lambda t: _first_weight(t, float("inf"))), "load"),
    ("model.safetensors", "wrong shape"): (_weights(_shrink), "load"),
    ("model.safetensors", "missing tensor"): (_weights(lambda t: t.pop(sorted(t)[0])), "load"),
    ("eval.json", "empty"): (_write("eval.json", ""), "note"),
    ("eval.json", "truncated"): (_truncate("eval.json"), "note"),
    ("eval.json", "not UTF-8"): (_write("eval.json", b"\xff\xfe{"), "note"),
    ("eval.json", "a list"): (_write("eval.json", "[1, 2]"), "note"),
    ("eval.json", "a number"): (_write("eval.json", "3.5"), "note"),
    ("eval.json", "test a list"): (_eval(test=[1, 2]), "note"),
    ("eval.json", "iwae a string"): (_eval(test__iwae="high"), "note"),
    ("eval.json", "data_kind a list"): (_eval(data_kind=["continuous"]), "note"),
    ("history.jsonl", "empty"): (_write("history.jsonl", ""), "note"),
    ("history.jsonl", "not UTF-8"): (_write("history.jsonl", b"\xff\xfe\x00"), "note"),
    ("history.jsonl", "partial last line"): (_history('{"epoch": 3, "loss": 1'), "note"),
    ("history.jsonl", "a list line"): (_history("[1, 2, 3]"), "note"),
    ("history.jsonl", "a number line"): (_history("42"), "note"),
    ("history.jsonl", "no epoch"): (_history('{"loss": 1.0}'), "note"),
    ("history.jsonl", "epoch a string"): (_history('{"epoch": "two"}'), "note"),
    ("history.jsonl", "sigma a string"): (_history('{"epoch": 2, "sigma_mean": "small"}'), "note"),
    ("snapshots", "a file"): (_snapshot_dir_as_file, "note"),
    ("snapshots", "odd folder name"): (lambda f: (f / "snapshots" / "epoch-x").mkdir(), "note"),
    ("snapshots", "no weights"): (lambda f: (f / "snapshots" / "epoch-0001" / "model.safetensors").unlink(), "note"),
    ("snapshots", "NaN weights"): (_weights(lambda t: _first_weight(t, float("nan")), "epoch-0001"), "snapshot"),
    ("snapshots", "config not JSON"): (_write("snapshots/epoch-0001/config.json", "{"), "snapshot"),
}


def _folder_name(case: tuple[str, str]) -> str:
    return "dmg-" + "-".join(case).replace(".", "-").replace(" ", "-").lower()


def _damaged_copy(tiny_zoo: Path, root: Path, case: tuple[str, str]) -> Path:
    folder = root / _folder_name(case)
    shutil.copytree(tiny_zoo / VICTIM, folder)
    DAMAGE[case][0](folder)
    return folder


@pytest.mark.parametrize("case", DAMAGE, ids=[" / ".join(c) for c in DAMAGE])
def test_a_damaged_file_is_one_sentence_naming_folder_and_file(tiny_zoo, tmp_path, case):
    folder = _damaged_copy(tiny_zoo, tmp_path, case)
    shutil.copytree(tiny_zoo / INTACT, tmp_path / INTACT)
    found, problems = scan(tmp_path)
    by_name = {c.name: c for c in found}
    assert load_model(by_name[INTACT].path).config.decoder == "bernoulli"  # the rest of the zoo still loads
    where = DAMAGE[case][1]
    if where == "scan":
        messages = [m for _, m in problems]
    elif where == "note":
        messages, ckpt = by_name[folder.name].notes, by_name[folder.name]
        load_model(ckpt.path)
        assert all((snap / "model.safetensors").is_file() for _, snap in ckpt.snapshots)
    else:
        assert folder.name in by_name and problems == []
        with pytest.raises(ZooError) as info:
            if where == "load":
                load_model(folder)
            else:
                load_snapshot(by_name[folder.name], 1)
        messages = [str(info.value)]
    file = case[0].split("/")[0]
    assert len(messages) == 1, messages
    (message,) = messages
    assert folder.name in message and file in message and "\n" not in message and len(message) < 400, message


BAD_INDEX = ("", "[1]", "{", "null")  # index.json texts that are not an object


def test_index_json_that_is_not_an_object_reads_as_absent(tmp_path):
    for text in BAD_INDEX:
        (tmp_path / "index.json").write_text(text)
        assert read_index(tmp_path) is None
    (tmp_path / "index.json").write_text('{"models": []}')
    assert read_index(tmp_path) == {"models": []}


@pytest.fixture(scope="module")
def damaged_zoo(tiny_zoo, tmp_path_factory) -> Path:
    """One zoo holding every damaged copy beside two intact checkpoints."""
    root = tmp_path_factory.mktemp("damaged-zoo")
    for case in DAMAGE:
        _damaged_copy(tiny_zoo, root, case)
    for name in (INTACT, "mnist-gaussian-fixed"):
        shutil.copytree(tiny_zoo / name, root / name)
    return root


@pytest.fixture
def use_zoo(monkeypatch):
    def use(root: Path):
        monkeypatch.setenv("VAE_ZOO_SOURCE", str(root))
        monkeypatch.delenv("VAE_ZOO_REVISION", raising=False)
        monkeypatch.delenv(LOCKED_ENV, raising=False)
        monkeypatch.setattr(cache, "LOCAL_ZOO", root)
        return root
    return use


def run_page(page: str = "", params: dict | None = None, timeout: float = 120) -> tuple[AppTest, list[str]]:
    """The app opened at ``page`` with ``params`` split as a link splits them (the sidebar's, then the page's own);
    returns it and the notes on dropped parameters that either run showed."""
    sidebar = {k: v for k, v in (params or {}).items() if links.PARAMS.get(k, "") == ""}
    own = {k: v for k, v in (params or {}).items() if k not in sidebar}
    at = open_page(page, sidebar, own, timeout)
    return at, [n for n in at.link_notes.split("\n") if n.startswith("The link's")]


def page_drew(at: AppTest) -> list[str]:
    """The kinds of element the page drew in the main area besides the notes on the link (empty: it drew nothing)."""
    return [node.type for node in at.main if isinstance(node, Element) and node.type not in ("info", "unknown")]


def link_notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info if i.value.startswith("The link's")]


def everything_shown(at: AppTest) -> str:
    return texts(at) + "\n" + "\n".join(c.value for c in at.sidebar.caption)


# Every registered page, and on each every query parameter it reads (the sidebar's and its own; links.PARAMS), so
# that a new page or parameter is fuzzed without editing this file. context.OPEN is only a marker: any value goes.
FUZZED_PAGES = [p.url_path for p in pages.PAGES]
PAGE_PARAMS = {page: [p for p, where in links.PARAMS.items() if where in ("", page) and p != OPEN]
               for page in FUZZED_PAGES}


def test_the_fuzz_covers_every_registered_page_and_parameter():
    """Test that the tables above reach every page of explorer.pages and every parameter of explorer.links, and
    that links.PARAMS names only registered pages (a parameter of a page that is not registered is fuzzed nowhere)."""
    registered = {p.url_path for p in pages.PAGES}
    assert set(FUZZED_PAGES) == registered == set(PAGE_PARAMS)
    assert {where for where in links.PARAMS.values() if where} <= registered, links.PARAMS
    fuzzed = {p for params in PAGE_PARAMS.values() for p in params}
    assert fuzzed == set(links.PARAMS) - {OPEN}, set(links.PARAMS) - {OPEN} - fuzzed


@pytest.mark.parametrize("page", FUZZED_PAGES)
def test_every_page_survives_a_zoo_with_every_damage(damaged_zoo, use_zoo, page):
    use_zoo(damaged_zoo)
    usable = sorted(_folder_name(c) for c, (_, where) in DAMAGE.items() if where != "scan")
    at, _ = run_page("" if page == FUZZED_PAGES[0] else page, {"models": [*usable, INTACT]})
    shown = everything_shown(at)
    for case, (_, where) in DAMAGE.items():  # each fault is named where the visitor looks
        if where in ("scan", "note"):
            assert _folder_name(case) in shown, case
    assert str(damaged_zoo) not in shown  # folders are named from the zoo, not from the server's disk
    errors = "\n".join(e.value for e in at.error)
    if page in ("reconstruct", "sample"):
        assert INTACT in shown
        for case, (_, where) in DAMAGE.items():
            if where == "load":
                assert f"`{_folder_name(case)}` cannot be loaded" in errors, case
    if page == "sigma":  # the "all models" view: a damaged model never hides the others
        at.toggle(key="sigma_all").set_value(True).run()
        assert_ok(at)
        assert "mnist-gaussian-fixed" in json.dumps([json.loads(c.proto.spec) for c in at.get("vega_lite_chart")])
        snapshots = [c for c, (_, where) in DAMAGE.items() if where == "snapshot"]
        open_tab(at, sigma.SECTION_KEY, "Snapshots")
        for case in snapshots:
            at.selectbox(key="snapshot_model").set_value(_folder_name(case)).run()
            assert_ok(at)
            assert "epoch 1 cannot be loaded" in "\n".join(e.value for e in at.error) and len(at.image) >= 2


# ------------------------------------------------------------------------------------------------ links
BAD_VALUES = {"inf": "inf", "-inf": "-inf", "nan": "nan", "1e400": "1e400", "huge": "99999999999999999999",
              "negative": "-3", "non-numeric": "abc", "empty": "", "too long": "7" * 5000, "two values": ["1", "2"]}


def _names(path: Path, tree: ast.Module) -> dict:
    """What a key expression in ``path`` can name: an explorer module's own globals, or for app.py and a page
    script (never imported: it draws when run) the modules and names it imports and its module-level strings."""
    if pages.ROOT / "explorer" in path.parents:
        module = ".".join(path.relative_to(pages.ROOT).with_suffix("").parts)
        return vars(importlib.import_module(module))
    names: dict = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                base = importlib.import_module(node.module)
                names[alias.asname or alias.name] = (getattr(base, alias.name) if hasattr(base, alias.name) else
                                                     importlib.import_module(f"{node.module}.{alias.name}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:  # `import a.b` binds a (with a.b loaded); `import a.b as c` binds c
                module = importlib.import_module(alias.name)
                names[alias.asname or alias.name.split(".")[0]] = (
                    module if alias.asname else importlib.import_module(alias.name.split(".")[0]))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            names |= {t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)}
    return names


def bound_widget_keys(path: Path) -> list[tuple[str, str | None]]:
    """(file:line, key) of every widget call in ``path`` with ``bind="query-params"``: keys written as literals and
    as constants (``key=board.IMAGE_KEY``, ``key=K_KEY``) alike; None where the key is neither."""
    tree = ast.parse(path.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and any(
        k.arg == "bind" and isinstance(k.value, ast.Constant) and k.value.value == "query-params"
        for k in node.keywords)]
    names = _names(path, tree) if calls else {}
    found = []
    for call in calls:
        node = next((k.value for k in call.keywords if k.arg == "key"), None)
        key = None
        if isinstance(node, ast.Constant):
            key = node.value
        elif isinstance(node, ast.Name | ast.Attribute):  # a constant: read it where the file reads it
            try:
                key = eval(compile(ast.Expression(node), str(path), "eval"), {}, names)  # names and dots only
            except (NameError, AttributeError):
                key = None
        found.append((f"{path.name}:{call.lineno}", key if isinstance(key, str) else None))
    return found


def test_every_bound_widget_is_a_checked_parameter():
    """Test that every widget bound to the URL reads a parameter links.PARAMS lists (and so checks before the
    widget reads it), however its key is written."""
    found = [item for path in APP_FILES for item in bound_widget_keys(path)]
    assert len(found) >= 10  # the sidebar's three, the pages' own
    assert [where for where, key in found if key is None] == [], "give these widgets a literal or constant key"
    assert [(where, key) for where, key in found if key not in links.PARAMS] == [], "add them to links.PARAMS"


def test_the_bound_widget_check_sees_keys_written_as_constants(tmp_path):
    """Test that the check above reads a key from a literal, an imported module's constant and a page's own
    constant, and ignores widgets that are not bound."""
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\nfrom explorer import board, story\nfrom explorer.story import STEP_KEY\n"
                    "OWN = 'own_key'\n"
                    "st.number_input('a', key=board.IMAGE_KEY, bind='query-params')\n"
                    "st.segmented_control('b', [], key=STEP_KEY, bind='query-params')\n"
                    "st.slider('c', key='new_param', bind='query-params')\n"
                    "st.slider('d', key=OWN, bind='query-params')\n"
                    "st.slider('e', key='not_bound')\n"
                    "st.slider('f', key=f'{OWN}x', bind='query-params')\n")
    from explorer import board, story

    assert [key for _, key in bound_widget_keys(page)] == [board.IMAGE_KEY, story.STEP_KEY, "new_param", "own_key",
                                                           None]
    assert "new_param" not in links.PARAMS  # so the test above would name it


@pytest.mark.parametrize("page", PAGE_PARAMS)
@pytest.mark.parametrize("kind", BAD_VALUES)
def test_every_parameter_with_a_bad_value_falls_back_with_a_note(zoo_env, page, kind):
    params = {p: BAD_VALUES[kind] for p in PAGE_PARAMS[page]}
    if page == "latent":
        params["models"] = ["mnist-gaussian-fixed", INTACT]  # an unknown latent_model among known models
    at, notes = run_page(page, params)
    for name in params:
        if name != "models" or page != "latent":
            assert any(f"`{name}=" in n for n in notes), (name, notes)
    assert all(n.count(". ") == 0 and len(n) < 400 for n in notes), notes  # one sentence, value quoted short
    assert at.sidebar.number_input(key="seed").value == 0 and page_drew(at)  # the sidebar and the page both drew
    assert not [k for k in params if k in at.query_params and k != "models"]  # the bad values left the URL
    at.run()  # the next interaction starts clean
    assert not link_notes(at)


def test_a_link_with_some_unknown_models_keeps_the_known_ones(zoo_env):
    at, notes = run_page("sample", {"models": ["mnist-gaussian-fixed", "../../etc/passwd"]})
    assert at.sidebar.multiselect(key="models").value == ["mnist-gaussian-fixed"]
    assert any("`models=../../etc/passwd`" in n for n in notes) and len(at.image) == 2


@pytest.mark.parametrize("params", [{"open": "x"}, {"open": ""},
                                    {"open": "1", "models": ["no-such-model"]}])
def test_open_without_models_says_so_and_keeps_the_selection(zoo_env, params):
    """``open`` replaces the selection with the link's models: without any, it changes nothing and says why."""
    default = run_page("sample")[0].sidebar.multiselect(key="models").value
    at, notes = run_page("sample", params)
    assert at.sidebar.multiselect(key="models").value == default and default and len(at.image) >= 2
    assert any(f"`open={params['open']}`" in n and "applies only with `models=`" in n for n in notes), notes
    assert "open" not in at.query_params


def test_good_links_pass_untouched(zoo_env):
    at, notes = run_page("sample", {"seed": "7", "temperature": "0.5", "n_samples": "8", "view": "Gap view",
                             "models": ["mnist-gaussian-fixed"], "dataset": "mnist"})
    assert not notes
    assert at.sidebar.number_input(key="seed").value == 7 and at.slider(key="temperature").value == 0.5


# ------------------------------------------------------------------------------------------------ sources
BAD_SOURCES = {"root": "/", "etc": "/etc", "proc": "/proc", "10k characters": "x" * 10_000, "NUL byte": "a\x00b",
               "newline": "checkpoints\n/etc", "parent": "..", "parents": "../../..", "unknown user": "~nobody-xyz/zoo",
               "repo with ..": "owner/..", "missing folder": "/no/such/zoo"}
SERVER_FOLDERS = ("bin", "usr", "passwd", "self", "cpuinfo", "sys")


@pytest.mark.parametrize("name", BAD_SOURCES)
def test_a_bad_source_is_a_message_and_lists_no_server_folder(zoo_env, name):
    at, _ = run_page()
    at.sidebar.text_input(key="zoo_source").set_value(BAD_SOURCES[name]).run()
    assert_ok(at)
    assert at.error or at.warning  # a message: instructions, or the fallback note
    assert not [e for e in at.sidebar.expander if "could not be read" in e.label]
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert not any(f"`{folder}`" in captions or f"{folder}:" in captions for folder in SERVER_FOLDERS)
    assert all(len(m.value) < 1200 for m in [*at.error, *at.warning]), [m.value[:300] for m in [*at.error, *at.warning]]


# ------------------------------------------------------------------------------------------------ memory
def test_every_cache_of_the_app_has_a_bound():
    """A public server's memory has a ceiling only if no st.cache_* can grow without limit (docs/soak.md)."""
    import re

    decorators = []
    for path in APP_FILES:
        found = re.findall(r"@st\.cache_(?:data|resource)(?:\([^)]*\))?", path.read_text())
        decorators += [(path.name, d) for d in found]
    assert len(decorators) >= 10
    assert [d for d in decorators if "max_entries=" not in d[1]] == []


# ------------------------------------------------------------------------------------------------ locked mode
@pytest.fixture
def zoo_env(tiny_zoo, use_zoo):
    return use_zoo(tiny_zoo)


@pytest.mark.parametrize("switch", ["env", "secret"])
def test_locked_mode_hides_the_source_and_the_servers_paths(damaged_zoo, use_zoo, monkeypatch, switch):
    use_zoo(damaged_zoo)
    at = AppTest.from_file(APP, default_timeout=120)
    if switch == "env":
        monkeypatch.setenv(LOCKED_ENV, "1")
    else:
        at.secrets["locked"] = True
    at.query_params.update({"source": "/etc", "zoo_source": "someone/repo", "path": "/proc"})
    at.run()
    assert_ok(at)
    assert not at.sidebar.text_input  # no Source box, no Revision box
    shown = everything_shown(at) + "\n".join(e.value for e in at.error)
    notes = [i.value for i in at.info]
    for name in ("source", "zoo_source", "path"):
        assert any(f"`{name}=" in n and "only its own zoo" in n for n in notes), (name, notes)
    assert str(damaged_zoo) not in shown and "/tmp" not in shown and _folder_name(("config.json", "empty")) in shown


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_locked_mode_without_checkpoints_names_no_path(tmp_path, use_zoo, monkeypatch, folder):
    use_zoo(tmp_path)
    if folder == "missing":
        monkeypatch.setenv("VAE_ZOO_SOURCE", str(tmp_path / "missing"))
        monkeypatch.setattr(cache, "LOCAL_ZOO", tmp_path / "also-missing")
    monkeypatch.setenv(LOCKED_ENV, "yes")
    at, _ = run_page("reconstruct")
    shown = everything_shown(at) + "\n".join(e.value for e in at.error)
    assert "no checkpoints to show" in shown and str(tmp_path) not in shown and "train.py" not in shown


@pytest.mark.parametrize("value,locked", [("1", True), ("true", True), ("ture", True), ("0", False), ("", False),
                                          ("off", False)])
def test_the_lock_fails_closed(monkeypatch, value, locked):
    from explorer.access import is_locked

    monkeypatch.setenv(LOCKED_ENV, value)
    assert is_locked() is locked




# ------------------------------------------------------------------------------------------------ the static export
# What the export (explorer.static_site.export_site) reads of a checkpoint: config.json, the weights and eval.json,
# whose damage stops it with one sentence naming the checkpoint and the file and leaves no folder behind. It never
# reads snapshots or index.json, and history.jsonl only for the Story's figures (figures=False here), so their damage
# leaves a whole export.
EXPORT_READS = ("config.json", "model.safetensors", "eval.json")
EXPORT_IGNORES = ("history.jsonl", "snapshots")
EXPORT_REFUSED = [c for c in DAMAGE if c[0] in EXPORT_READS]


def test_the_export_cases_cover_every_damaged_file():
    """Test that every file DAMAGE damages is classed as read by the export or not, so a new one is fuzzed there."""
    assert {file.split("/")[0] for file, _ in DAMAGE} == set(EXPORT_READS) | set(EXPORT_IGNORES)


@pytest.mark.parametrize("case", EXPORT_REFUSED, ids=[" / ".join(c) for c in EXPORT_REFUSED])
def test_a_damaged_checkpoint_stops_the_export_in_one_sentence_and_writes_nothing(tiny_zoo, tmp_path, case):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    folder = _damaged_copy(tiny_zoo, zoo, case)
    shutil.copytree(tiny_zoo / INTACT, zoo / INTACT)
    with pytest.raises(ExportError) as caught:
        export_site(tmp_path / "site", zoo, figures=False)
    message = str(caught.value)
    assert message.startswith(f"Cannot export checkpoint {folder.name}: ") and case[0] in message, message
    assert "\n" not in message and len(message) < 400 and str(tmp_path) not in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo"]  # no export folder, no temporary folder beside it


def test_damage_the_export_never_reads_leaves_a_whole_export(tiny_zoo, tmp_path):
    """Every history.jsonl and snapshots damage in one zoo, with an index.json that is not an object: the export
    completes with every checkpoint, and ships no snapshot."""
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    ignored = [_damaged_copy(tiny_zoo, zoo, c).name for c in DAMAGE if c[0].split("/")[0] in EXPORT_IGNORES]
    (zoo / "index.json").write_text(BAD_INDEX[1])
    manifest = export_site(tmp_path / "site", zoo, figures=False)
    assert sorted(manifest["models"]) == sorted(ignored)
    assert not [p for p in (tmp_path / "site").rglob("*") if p.name == "snapshots" or p.name.startswith("epoch-")]


# ---------------------------------------------------------------------------------------------- the static site's links
# The site's views and the parameters each reads, from the site's own code (site/js/ui.js PAGES; each view's
# `state.<name>` and intParam(state, "<name>")), so that a new view or parameter is fuzzed without editing this file.
SITE_JS = SITE_SOURCE / "js"
SITE_PAGES = re.findall(r'file: "(\w+\.html)"', (SITE_JS / "ui.js").read_text())
SITE_PARAM = re.compile(r'state\.(\w+)|intParam\(state, "(\w+)"')
SITE_PARAMS = {page: sorted({a or b for a, b in SITE_PARAM.findall((SITE_JS / page.replace("html", "js")).read_text())})
               for page in SITE_PAGES}


def test_the_site_fuzz_covers_every_view_and_parameter():
    assert set(SITE_PAGES) == {p.name for p in SITE_SOURCE.glob("*.html")} - {"index.html"}
    assert SITE_PARAMS["board.html"] == ["dataset", "image", "models", "seed", "set"]
    assert all(SITE_PARAMS[p] for p in SITE_PAGES), SITE_PARAMS


@pytest.fixture(scope="module")
def site_tab(tiny_site_export):
    """(base url, a Chromium page, its console errors) over the session's export of the tiny zoo."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    errors: list[str] = []
    with serve_folder(tiny_site_export) as url, chromium((1280, 720)) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield url, page, errors


@pytest.mark.browser
@pytest.mark.parametrize("page", SITE_PAGES)
@pytest.mark.parametrize("kind", BAD_VALUES)
def test_every_site_parameter_with_a_bad_value_opens_the_nearest_view_with_a_note(site_tab, page, kind):
    """Test that each view of the exported site, opened with every parameter it reads set to a bad value (an
    unknown set, step, model or dataset; a bad number), draws a whole view with one sentence per parameter naming
    it, quotes the value short, drops it from the address, and logs no console error."""
    url, tab, errors = site_tab
    errors.clear()
    value = BAD_VALUES[kind]
    query = urlencode([(p, v) for p in SITE_PARAMS[page] for v in (value if isinstance(value, list) else [value])])
    tab.goto(f"{url}/{page}?{query}")
    tab.wait_for_function("window.__siteReady === true", timeout=60_000)
    notes = tab.locator("#notes p").all_inner_texts()
    for name in SITE_PARAMS[page]:
        assert any(n.startswith(f"{name}=") for n in notes), (name, notes)
    assert all(n.count(". ") == 0 and n.endswith(".") and len(n) < 400 for n in notes), notes
    assert tab.locator("main canvas, main h1").count() >= 1  # the view drew
    if not isinstance(value, list):
        address = {k: v[-1] for k, v in parse_qs(urlparse(tab.url).query, keep_blank_values=True).items()}
        assert [k for k in SITE_PARAMS[page] if address.get(k) == value] == [], address
    assert not errors, errors
