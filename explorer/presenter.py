"""Presenter mode: the Board, the Story and the Sample page's gap view as a room reads them on a 1280x720 projector.
Switched on by the visible "Presenter" switch on those pages (bound to ``?presenter=true``, kept for the session) or
by opening the app embedded (``?embed=true``, which Streamlit reports as ``st.context.is_embedded``). It changes only
how the page looks: the sidebar and the header are hidden, text a room must read is at least ``TEXT_PX``, the key
numbers at least ``NUMBER_PX``, charts take the same sizes (``chart``). A locked public server allows it too, since it
shows nothing the page does not show anyway.

Keys: Streamlit's button shortcuts are ignored while a control has the keyboard focus (a step's name in the Story's
bar keeps it after a click, and the arrow keys then move the focus between the step names). ``keep_keys`` hands the
focus back to the page after a click on a button, so the next key press reaches the shortcuts."""
from __future__ import annotations

import streamlit as st

from . import links

KEY = "presenter"      # the switch's key and its query parameter: ?presenter=true
EMBEDDED_KEY = "presenter_embedded"  # the switch shown on an embedded page: on, and cannot be turned off
TEXT_PX = 18           # the smallest text a room must read, at 1280x720
NUMBER_PX = 34         # the key numbers (the board's log p(x) and FD): at least 32 px
VIEWPORT = (1280, 720)  # the projector the sizes are chosen for
WIDTH_PX = 1200        # a full-width chart: the main block at 1280 px less its padding (CSS) and a scrollbar
DESK_WIDTH_PX = 820    # the same outside presenter mode, beside the sidebar
PAGES = ("board", "story", "sample")  # where the switch is (Sample: for its gap view)

CSS = f"""<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
header[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] {{display:none !important}}
[data-testid="stMainBlockContainer"] {{padding:0.6rem 1.5rem 0.4rem !important; max-width:none !important}}
[data-testid="stMain"] {{font-size:{TEXT_PX}px}}
[data-testid="stMain"] :is(p, li, td, th, label, input, textarea, button, button *, [role="radio"] *,
  [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] *, [data-testid="stImageCaption"],
  [data-testid="stImageCaption"] *, [data-testid="stWidgetLabel"] *, [data-testid="stAlertContentInfo"] *,
  [data-testid="stSlider"] *,
  [data-testid="stMarkdownContainer"] :is(span, code, strong, em)) {{font-size:{TEXT_PX}px !important}}
[data-testid="stMain"] [data-testid="stHeading"] :is(h1, h2, h3) :is(span, code, strong, em) {{
  font-size:inherit !important}}
[data-testid="stMain"] :is([data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
  [data-testid="stImageCaption"]) {{color:#3d3f4a !important}}
[data-testid="stMain"] h3 {{font-size:1.6rem; padding:0.2rem 0 0.1rem}}
[data-testid="stMain"] h1 {{font-size:2rem; padding:0.2rem 0}}
[data-testid="stMain"] [data-testid="stVerticalBlock"] {{gap:0.45rem}}
</style>"""

# Vega-Lite config for a chart shown in presenter mode (the spec's own settings stay; sizes are raised).
CHART_CONFIG = {
    "axis": {"labelFontSize": TEXT_PX, "titleFontSize": TEXT_PX, "labelOverlap": True},
    "legend": {"labelFontSize": TEXT_PX, "titleFontSize": TEXT_PX, "symbolSize": 160},
    "header": {"labelFontSize": TEXT_PX, "titleFontSize": TEXT_PX},
    "text": {"fontSize": TEXT_PX},
    "title": {"fontSize": TEXT_PX + 4},
}

# After a click on a button, a segmented control or a switch, give the keyboard focus back to the page: the browser
# leaves it on the control, where Streamlit's shortcuts do not listen (the arrow keys move between a group's options).
KEEP_KEYS = """<script>
(() => {
  const doc = window.parent.document;
  if (doc.__presenterKeys) return;
  doc.__presenterKeys = true;
  doc.addEventListener('click', (e) => {
    const control = e.target.closest
      && e.target.closest('[data-testid="stMain"] :is(button, label:has(input[type="checkbox"]))');
    if (control) setTimeout(() => { if (doc.activeElement === control || control.contains(doc.activeElement))
      doc.activeElement.blur(); }, 0);
  }, true);
})();
</script>"""


def requested() -> bool:
    """Whether this run asks for presenter mode: the switch (or its query parameter), or an embedded page."""
    return bool(st.context.is_embedded) or bool(st.session_state.get(KEY))


def hides_sidebar(page: str) -> bool:
    """Whether this run draws ``page`` (its url_path) in presenter mode, which hides the sidebar: app.py then leaves
    it out (context.Unseen). Read before the page draws its switch: from the switch's state, else its query
    parameter, and on an embedded page always."""
    if page not in PAGES:
        return False
    if st.context.is_embedded:
        return True
    if KEY in st.session_state:
        return bool(st.session_state[KEY])
    return st.query_params.get(KEY) == "true"


def switch(where=st) -> bool:
    """The visible switch, bound to ``?presenter=``, and the page's presenter styling when it is on. Returns whether
    presenter mode is on. Embedded pages are always in presenter mode (the switch says so and cannot be turned off)."""
    links.choice(KEY, ["true", "false"])
    if st.context.is_embedded:
        on = where.toggle("Presenter", value=True, disabled=True, key=EMBEDDED_KEY,
                          help="Always on in an embedded page (?embed=true).")
    else:
        on = where.toggle("Presenter", key=KEY, bind="query-params", persist_state="session",
                          help=f"Large type for a room ({TEXT_PX} px and more), no sidebar; ?{KEY}=true in a link.")
    if on:
        st.html(CSS)
    return on


def keep_keys() -> None:
    """Make the page's shortcuts work after any click (see ``KEEP_KEYS``)."""
    st.html(KEEP_KEYS, unsafe_allow_javascript=True)


def static_chart(spec: dict, on: bool = True, stretch: bool = False, height: int | None = None) -> None:
    """A chart drawn on the server as a picture (charts.show_static), in presenter type when ``on``
    (``chart``), the main block's width if ``stretch`` (``WIDTH_PX``, or ``DESK_WIDTH_PX`` beside the sidebar). A fresh
    tab then loads no Vega code, which alone took it to 1.3-1.8x a one-line app (docs/bench_presenter.md, sixth and
    eighth passes); a room reads a chart and does not zoom it, and the picture keeps the hover descriptions."""
    from . import charts  # Altair: imported by the pages that draw a chart, not by every presenter switch

    width = (WIDTH_PX if on else DESK_WIDTH_PX) if stretch else None
    charts.show_static(chart(spec, on), width=width, height=height)


FONT_SIZES = ("fontSize", "labelFontSize", "titleFontSize")  # set in a spec, they win over its config


def _raised(node):
    """A copy of a spec's tree with every font size set in it raised to at least TEXT_PX (the data stay shared)."""
    if isinstance(node, dict):
        return {k: (max(v, TEXT_PX) if k in FONT_SIZES and isinstance(v, int | float) else
                    v if k == "datasets" else _raised(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_raised(v) for v in node]
    return node


def chart(spec: dict, on: bool) -> dict:
    """``spec`` with presenter-sized text when ``on`` (a copy: cached specs are shared read-only)."""
    if not on:
        return spec
    out = _raised(spec)
    config = dict(out.get("config", {}))
    for part, sizes in CHART_CONFIG.items():
        config[part] = {**config.get(part, {}), **sizes}
    return {**out, "config": config}
