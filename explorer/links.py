"""Query parameters are input from anyone who sends a link: each one is checked before the widget bound to it
reads it. A value that is not acceptable leaves the URL (the widget then starts from its default, and the
script reruns, because Streamlit seeds a widget from the URL the run started with), and the page says in one
sentence which parameter was dropped and what it accepts."""
from __future__ import annotations

import math
import re

import streamlit as st

# Every query parameter the app reads -> the page that reads it ("" : the sidebar, so every page).
PARAMS: dict[str, str] = {
    "dataset": "", "architecture": "", "models": "", "seed": "", "open": "", "set": "",
    "image_source": "reconstruct", "idx": "reconstruct",
    "temperature": "sample", "n_samples": "sample", "view": "sample",
    "latent_model": "latent", "post_idx": "latent", "iwae_k": "latent",
    "lab_tab": "lab", "sigma_section": "sigma",
    "board_image": "board", "step": "story",
    "presenter": "sample",  # also read by the board and the story (explorer/presenter.py)
}
# Parameters that would name a folder or Hub repo for the zoo: a link never sets the source.
SOURCE_PARAMS = ("source", "zoo_source", "revision", "zoo_revision", "repo", "repo_id", "path", "folder", "dir")
NOTES_KEY = "link_notes"  # session_state: notes on dropped parameters, kept across the reruns that drop them
KEEP_KEY = "link_notes_keep"  # session_state: the last run dropped a parameter, so its notes are still unseen
WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,30}$")


def shown(values: list[str], limit: int = 40) -> str:
    """A URL value as it can be quoted on the page: short, in a code span, without backticks or line breaks."""
    text = "&".join(values)
    text = re.sub(r"[`\x00-\x1f\x7f]", "?", text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def _drop(name: str, note: str) -> None:
    """Take ``name`` out of the URL, keep ``note`` for the rerun, and rerun."""
    try:
        del st.query_params[name]
    except Exception:  # bound to a widget since an earlier run: the widget's own state wins on a rerun anyway
        return
    _keep(note)
    st.rerun()


def _keep(note: str) -> None:
    st.session_state.setdefault(NOTES_KEY, []).append(note)
    st.session_state[KEEP_KEY] = True


def _reject(name: str, values: list[str], must: str) -> None:
    _drop(name, f"The link's `{name}={shown(values)}` is not used: {name} must be {must}, so the page starts from "
                f"its default.")


def _single(name: str) -> list[str] | None:
    assert name in PARAMS, f"{name} is not in explorer.links.PARAMS"
    values = st.query_params.get_all(name)
    return values or None


def integer(name: str, lo: int, hi: int) -> None:
    """``name`` must be one whole number in [lo, hi]."""
    values = _single(name)
    if values is None:
        return
    ok = len(values) == 1 and WHOLE_NUMBER.match(values[0].strip()) and lo <= int(values[0]) <= hi
    if not ok:
        _reject(name, values, f"one whole number from {lo} to {hi}")


def number(name: str, lo: float, hi: float) -> None:
    """``name`` must be one finite number in [lo, hi]."""
    values = _single(name)
    if values is None:
        return
    try:
        value = float(values[0]) if len(values) == 1 and len(values[0]) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        _reject(name, values, f"one number from {lo:g} to {hi:g}")


def choice(name: str, options: list) -> None:
    """``name`` must be one of ``options`` (compared as the URL writes them)."""
    values = _single(name)
    if values is None:
        return
    allowed = [str(o) for o in options]
    if len(values) != 1 or values[0] not in allowed:
        listed = ", ".join(allowed[:8]) + (" …" if len(allowed) > 8 else "")
        _reject(name, values, f"one of: {listed}" if allowed else "empty here (there is nothing to choose)")


def choices(name: str, options: list[str], what: str) -> None:
    """``name`` may repeat; values not among ``options`` are dropped, the others kept."""
    values = _single(name)
    if values is None:
        return
    unknown = [v for v in values if v not in options]
    if not unknown:
        return
    known = [v for v in values if v in options]
    note = (f"The link's `{name}={shown(unknown)}` is not used: no {what} has that name"
            f"{' (the others are shown)' if known else ', so the page starts from the default selection'}.")
    if known:
        st.query_params[name] = known
        _keep(note)
        st.rerun()
    _drop(name, note)


def needs(name: str, other: str, what: str) -> None:
    """``name`` applies only beside ``other``: alone, it leaves the URL with a note and changes nothing."""
    values = _single(name)
    if values is not None and not st.query_params.get_all(other):
        _drop(name, f"The link's `{name}={shown(values)}` is not used: it applies only with `{other}=` ({what}), "
                    f"so the selection is kept.")


def refuse_sources(locked: bool) -> None:
    """A link cannot point the server at a folder or a Hub repo: such parameters are dropped with a note."""
    for name in SOURCE_PARAMS:
        values = st.query_params.get_all(name)
        if values:
            why = ("this server shows only its own zoo" if locked else
                   "a link never sets the zoo source (use the Source box in the sidebar)")
            _drop(name, f"The link's `{name}={shown(values)}` is ignored: {why}.")


def show_notes() -> None:
    """The notes on parameters dropped by the runs that led to this one. A run that drops another parameter reruns
    before anything is drawn, so the notes stay until a run gets through; the run after that starts clean."""
    if not st.session_state.pop(KEEP_KEY, False):
        st.session_state.pop(NOTES_KEY, None)
    for note in st.session_state.get(NOTES_KEY, []):
        st.info(note, icon=":material/link_off:")
