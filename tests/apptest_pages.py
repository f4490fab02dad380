"""A page of the app opened as a link opens it, under Streamlit's AppTest: app.py with the sidebar's query parameters,
then a page of the registry (explorer/pages.py) with its own. Shared by the page tests (tests/test_board.py,
tests/test_story.py, ...)."""
from __future__ import annotations

import html
import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from explorer import charts, pages, tables


def open_page(page: str, sidebar: dict | None = None, own: dict | None = None, timeout: float = 120) -> AppTest:
    """The app with ``sidebar`` in its URL, then the page at /``page`` (explorer.pages.page; "" stays on the first
    page) with ``own``; no exception in either run. A note on a dropped parameter shows only in the run that drops
    it, so the notes of both runs are kept in ``at.link_notes``."""
    at = AppTest.from_file(str(pages.APP), default_timeout=timeout)
    at.query_params.update(sidebar or {})
    at.run()
    assert_no_exception(at)
    at.link_notes = notes(at)
    if page:
        at.switch_page(pages.page(page).script)
        at.query_params.update(own or {})
        at.run()
        assert_no_exception(at)
        at.link_notes += "\n" + notes(at)
    return at


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def notes(at: AppTest) -> str:
    """Every info note of the last run, one a line."""
    return "\n".join(i.value for i in at.info)


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """The page run again with the tabs of ``key`` open on ``label``, as a visitor's click opens it (only the open tab
    of tracked tabs runs: the lab's and the Decoder sigma page's)."""
    at.session_state[key] = label
    at.run()
    assert_no_exception(at)
    return at


def open_leaderboard(at: AppTest, dataset: str, all_columns: bool = True) -> AppTest:
    """The Overview run again with ``dataset``'s tab open (and its "All columns" expander, or not), as a visitor's
    click opens them: only the open tab and an open expander run (explorer/views/overview.py)."""
    from explorer.views import overview

    at.session_state[overview.DATASET_TAB] = dataset
    at.session_state[overview.ALL_COLUMNS.format(dataset)] = all_columns
    at.run()
    assert_no_exception(at)
    return at


def leaderboards(at: AppTest) -> list:
    """The Overview's "All columns" tables, one per dataset tab (the chosen dataset first), as data frames: each
    tab and its "All columns" opened in turn."""
    return [next(d.value for d in open_leaderboard(at, tab.label).dataframe if "IWAE (test set)" in d.value.columns)
            for tab in list(at.tabs)]


def shown_number(value) -> float:
    """A number as a leaderboard table holds it: a float, or the text explorer.tables.shown writes in a column with
    a missing number (the dash: nan)."""
    from explorer import tables

    return float("nan") if value == tables.MISSING else float(value)


def as_shown(expected: float, column: str):
    """``expected`` to within the rounding of ``column``'s format (explorer.tables.COLUMNS), as pytest.approx."""
    import re

    import pytest

    from explorer import tables

    printf = (tables.COLUMNS.get(column, {}).get("type_config") or {}).get("format") or ""
    digits = re.search(r"\.(\d+)f", printf)
    return pytest.approx(expected, rel=1e-6, abs=0.5 * 10 ** -int(digits.group(1)) if digits else 1e-9)


def html_tables(at: AppTest) -> list[pd.DataFrame]:
    """The tables ``tables.html_table`` wrote into the page's Markdown, in page order, as frames of their text
    (the headings' labels as columns)."""
    found = []
    for body in (m.value for m in at.markdown if f'<table class="{tables.TABLE_CLASS}">' in m.value):
        def cells(row: str, tag: str) -> list[str]:
            return [html.unescape(c) for c in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", row)]
        rows = re.findall(r"<tr>(.*?)</tr>", body)
        found.append(pd.DataFrame([cells(r, "td") for r in rows[1:]], columns=cells(rows[0], "th")))
    return found


def static_charts(at: AppTest) -> list[str]:
    """The charts drawn on the server (charts.show_static) in the page's Markdown: their one line of HTML each."""
    return [m.value for m in at.markdown if m.value.startswith(f'<div class="{charts.STATIC_CLASS}"')]
