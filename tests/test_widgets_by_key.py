"""AppTest tests fetch widgets by key (at.slider(key="temperature")), never by position (at.slider[0]): a position
breaks silently when a page gains or reorders a widget. Output elements (dataframe, error, title...) have no key
and are not checked."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

TESTS = Path(__file__).parent
# AppTest's accessors of interactive widgets, each fetchable by key: those that return a WidgetList
WIDGETS = {name for name, member in vars(AppTest).items() if isinstance(member, property)
           and str(member.fget.__annotations__.get("return", "")).startswith("WidgetList")}


def _widget_name(node: ast.expr) -> str | None:
    """The widget kind ``node`` lists: ``at.slider`` / ``at.sidebar.slider``, or ``at.get("slider")``."""
    if isinstance(node, ast.Attribute) and node.attr in WIDGETS:
        return node.attr
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in WIDGETS):
        return node.args[0].value
    return None


def positional_widgets(path: Path) -> list[str]:
    """file:line of every widget list indexed by position (``<...>.<widget>[<index>]``) in one test file."""
    found = [node for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Subscript) and _widget_name(node.value)]
    return [f"{path.name}:{node.lineno}: .{_widget_name(node.value)}[{ast.unparse(node.slice)}]"
            for node in sorted(found, key=lambda n: n.lineno)]


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_*.py")), ids=lambda p: p.name)
def test_app_tests_fetch_widgets_by_key(path):
    assert positional_widgets(path) == [], "fetch these widgets by key instead"


def test_the_widget_kinds_are_read_from_apptest():
    """Test that the list of widget kinds comes out of AppTest as expected (it would be empty, and the check
    above vacuous, if AppTest stopped annotating its accessors)."""
    assert {"button", "slider", "number_input", "selectbox", "multiselect", "segmented_control",
            "file_uploader"} <= WIDGETS
    assert not {"dataframe", "error", "image", "markdown", "title"} & WIDGETS


def test_the_check_sees_a_positional_widget(tmp_path):
    sample = tmp_path / "test_app_sample.py"
    sample.write_text('at.button[0].click()\nat.slider(key="t")\nat.dataframe[0]\nat.sidebar.selectbox[-1]\n'
                      'at.radio[i]\nat.get("toggle")[1]\nat.get("image")[0]\n')
    assert positional_widgets(sample) == ["test_app_sample.py:1: .button[0]", "test_app_sample.py:4: .selectbox[-1]",
                                          "test_app_sample.py:5: .radio[i]", "test_app_sample.py:6: .toggle[1]"]
