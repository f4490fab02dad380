"""The rules of the browser tests, read from their source (no browser needed): a test that drives Chromium is marked
``browser`` (so `pytest -m browser` and scripts/browser_suite_under_load.py run the whole browser suite), and none
waits for a quiet period (a fixed pause, the network idle, or explorer.browser.wait_idle's settling): each waits for
the condition it checks, with explorer.browser.wait_for or visit."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
QUIET_WAITS = ("wait_for_timeout", "wait_idle", "networkidle", "sleep")  # calls, or a load state passed as a string
DRIVERS = {"chromium"}  # explorer.browser's context manager that opens a page


def _called(node: ast.AST) -> set[str]:
    """The names a function's body calls (``f(...)`` and ``x.f(...)``) and the strings it mentions."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            names.add(f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):
            names.add(n.value)
    return names


def _marked_browser(decorators: list[ast.expr]) -> bool:
    return any("mark.browser" in ast.unparse(d) for d in decorators)


def browser_tests(path: Path) -> list[tuple[str, bool]]:
    """(test name, marked browser) of every test in ``path`` that opens Chromium itself or through a fixture of its
    module, however deep."""
    tree = ast.parse(path.read_text())
    module_marked = any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
                        and "mark.browser" in ast.unparse(n.value) for n in tree.body)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    opens = {name for name, f in functions.items() if _called(f) & DRIVERS}
    while True:  # a fixture that takes a fixture that opens Chromium opens it too
        more = {name for name, f in functions.items() if name not in opens and
                {a.arg for a in f.args.args} & opens}
        if not more:
            break
        opens |= more
    return [(name, module_marked or _marked_browser(f.decorator_list)) for name, f in functions.items()
            if name.startswith("test_") and name in opens]


def quiet_waits(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [f"{path.name}:{f.lineno} {f.name} uses {sorted(_called(f) & set(QUIET_WAITS))}"
            for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and _called(f) & set(QUIET_WAITS)]


BROWSER_FILES = sorted(p for p in TESTS.glob("*.py") if browser_tests(p))


def test_the_rules_find_the_browser_tests():
    """Test that the reading above finds the suite's browser tests, so the two tests below check something."""
    names = {p.name for p in BROWSER_FILES}
    assert {"test_browser.py", "test_canvas.py", "test_story.py", "test_board.py"} <= names, names
    assert len([t for p in BROWSER_FILES for t in browser_tests(p)]) >= 15


@pytest.mark.parametrize("path", BROWSER_FILES, ids=[p.name for p in BROWSER_FILES])
def test_every_test_that_drives_chromium_is_marked_browser(path):
    assert [name for name, marked in browser_tests(path) if not marked] == []


@pytest.mark.parametrize("path", BROWSER_FILES, ids=[p.name for p in BROWSER_FILES])
def test_no_browser_test_waits_for_a_quiet_period(path):
    assert quiet_waits(path) == [], "wait for the condition the test checks: explorer.browser.wait_for / visit"


def test_the_quiet_wait_rule_sees_a_pause_and_a_settle(tmp_path):
    """Test that the rule above would name a fixed pause, wait_idle and a network-idle wait."""
    sample = tmp_path / "test_sample.py"
    sample.write_text("def test_a(page):\n    page.click('x')\n    page.wait_for_timeout(300)\n\n"
                      "def test_b(page):\n    wait_idle(page)\n\n"
                      "def test_c(page):\n    page.wait_for_load_state('networkidle')\n\n"
                      "def test_d(page):\n    wait_for(page, lambda: page.url)\n")
    assert [line.split()[1] for line in quiet_waits(sample)] == ["test_a", "test_b", "test_c"]
