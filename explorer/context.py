"""The shared sidebar (zoo source, dataset, models, device, seed) and the ``Context`` it hands to every page.

app.py draws the sidebar (``sidebar``) before it runs the page; the page takes the context with ``get``. It is
handed over in ``st.session_state``, replaced on every run. The state that matters lives in the URL: widgets
bound with ``bind="query-params"`` (dataset, models, seed, and each page's own image index, temperature, view),
so a presenter can bookmark and share a view.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitAPIException

from vae_core.base.data import DATASETS
from vae_core.files.names import DEFAULT_ZOO
from vae_core.model.config import MLP, NETWORK_NAMES, twin_suffix
from vae_core.zoo.checkpoints import MAX_SOURCE_CHARS, ZOO_ENV, Checkpoint, ZooError, is_hub_repo_id

from . import access, board, cache, links

if TYPE_CHECKING:  # torch comes with the first model (cache.get_model): the sidebar and the Overview do without it
    from vae_core.model.vae import VAE

REVISION_ENV = "VAE_ZOO_REVISION"
MAX_SEED = 2**31 - 1
# The default selection is the board's first named set, in the default architecture: it tells the story.
STORY: tuple[str, ...] = next(iter(board.MODEL_SETS.values()))
# MLP first: the networks on which the zoo's claims hold (tests/test_claims.py); conv is one click away.
CONTEXT_KEY = "explorer_context"  # session_state: the Context app.py's sidebar built in this run


@dataclass
class Context:
    source: str                      # what was asked for: a folder or a Hub repo id
    revision: str | None
    root: str | None                 # the folder actually read (a Hub snapshot is a folder too)
    notes: list[str] = field(default_factory=list)        # e.g. the Hub fallback, one sentence each
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    dataset: str | None = None
    selected: list[Checkpoint] = field(default_factory=list)
    device: str = "cpu"
    seed: int = 0
    locked: bool = False             # a public deployment: no source box, no server paths shown

    def public(self, text: str) -> str:
        """A message as a visitor may see it (``access.public_text``): checkpoint folders named from the zoo, not
        from the server's disk; in locked mode, no server path at all."""
        zoos = [self.root, str(cache.LOCAL_ZOO)] + ([self.source] if self.locked else [])
        return access.public_text(text, zoos, self.locked)

    def for_dataset(self, dataset: str | None = None) -> list[Checkpoint]:
        return [c for c in self.checkpoints if c.dataset == (dataset or self.dataset)]

    def key(self, ckpt: Checkpoint) -> cache.ModelKey:
        return cache.model_key(self.root or "", ckpt, self.revision, self.device)

    def model(self, ckpt: Checkpoint) -> VAE:
        return cache.get_model(self.key(ckpt), ckpt)


def architectures(checkpoints: list[Checkpoint], dataset: str) -> list[str]:
    """The networks of the dataset's checkpoints (VAEConfig.network: a conv network with residual blocks is its own
    choice), the default first (NETWORK_NAMES' order; others after)."""
    found = {c.config.network for c in checkpoints if c.dataset == dataset}
    return [a for a in NETWORK_NAMES if a in found] + sorted(found - set(NETWORK_NAMES))


def network_label(network: str) -> str:
    """The switch's label of a network, which is also what the URL holds (a bound widget writes its labels there):
    architecture=conv, architecture=residual conv (the MLP is the default, so never written)."""
    return NETWORK_NAMES.get(network, network)


def default_models(checkpoints: list[Checkpoint], dataset: str, architecture: str | None = None) -> list[str]:
    """The story's three decoders in ``architecture`` (the dataset's default one when None), by zoo name first."""
    architecture = architecture or next(iter(architectures(checkpoints, dataset)), MLP)
    names = [c.name for c in checkpoints if c.dataset == dataset]
    chosen = []
    for decoder in STORY:
        exact = f"{dataset}-{decoder}{twin_suffix(architecture)}"
        match = exact if exact in names else next((c.name for c in checkpoints if c.dataset == dataset
                                                    and c.decoder == decoder
                                                    and c.config.network == architecture), None)
        if match and match not in chosen:
            chosen.append(match)
    return chosen or names[:3]


def datasets_of(checkpoints: list[Checkpoint]) -> list[str]:
    """The zoo's datasets in vae_core.data's order (others after, by name): the first is the default."""
    return sorted({c.dataset for c in checkpoints}, key=lambda d: (list(DATASETS).index(d) if d in DATASETS else 99, d))


def sidebar(shown: bool = True) -> Context:
    """Draw the sidebar and hand its context to this run's page (see ``get``). Every query parameter it reads is
    checked first (``links``); notes on dropped ones, and on damaged checkpoints, go to the top of the page.
    ``shown=False`` (presenter mode, which hides the sidebar): the same context from the same state, nothing drawn
    (``Unseen``)."""
    sb = st.sidebar if shown else Unseen()
    sb.header("Zoo")
    locked = access.is_locked()
    links.refuse_sources(locked)
    links.show_notes()
    env_source = os.environ.get(ZOO_ENV) or str(cache.LOCAL_ZOO)
    revision = None
    if locked:  # the deployment's own zoo; a visitor can neither type a source nor see where it lives
        source = env_source
        revision = os.environ.get(REVISION_ENV) or None
        sb.caption("This server shows its own zoo of checkpoints.")
    else:
        source = sb.text_input("Source", value=env_source, key="zoo_source", max_chars=MAX_SOURCE_CHARS,
                               help="A local folder of checkpoints, or a Hugging Face Hub repo id (owner/name). "
                                    f"Default: ${ZOO_ENV}, else `{DEFAULT_ZOO.name}/` next to app.py.").strip()
        if is_hub_repo_id(source):
            revision = sb.text_input("Revision", value=os.environ.get(REVISION_ENV, ""), key="zoo_revision",
                                     placeholder="main", max_chars=200,
                                     help="A branch, tag or commit of the Hub repo.").strip() or None
    root, note = cache.resolve(source or str(cache.LOCAL_ZOO), revision)
    ctx = Context(source=source, revision=revision, root=root, notes=[note] if note else [], locked=locked)
    if root is not None:
        try:
            ctx.checkpoints, ctx.problems = cache.scan_zoo(root, cache.zoo_signature(root))
        except ZooError as e:
            ctx.notes.append(str(e))
    if locked:  # what went wrong, without the advice to the operator (train, set a source) a visitor cannot take
        ctx.notes = [n.split(";")[0].rstrip(".") + "." for n in ctx.notes]
    ctx.notes = [ctx.public(n) for n in ctx.notes]
    if ctx.problems:
        box = sb.expander(f"{len(ctx.problems)} folder(s) could not be read")
        for _, message in ctx.problems:
            box.caption(ctx.public(message))
    damaged = [n for c in ctx.checkpoints for n in c.notes]
    if damaged:
        box = sb.expander(f"{len(damaged)} note(s) on damaged files")
        for message in damaged:
            box.caption(ctx.public(message))

    datasets = datasets_of(ctx.checkpoints)
    links.choice("dataset", datasets)
    if datasets:
        dataset = st.query_params.get("dataset") or st.session_state.get("dataset") or datasets[0]
        links.choices("models", [c.name for c in ctx.checkpoints if c.dataset == dataset],
                      f"checkpoint of {dataset}")
    links.needs(OPEN, "models", "the models the link opens")
    _follow_link(datasets)
    if datasets:
        dataset = st.session_state.get("dataset") or st.query_params.get("dataset") or datasets[0]
        _follow_set(ctx.checkpoints, dataset if dataset in datasets else datasets[0])
        ctx.dataset = sb.selectbox("Dataset", datasets, key="dataset", bind="query-params",
                                   on_change=_reset_models, args=(ctx.checkpoints,))
        names = [c.name for c in ctx.for_dataset()]
        archs = architectures(ctx.checkpoints, ctx.dataset)
        architecture = archs[0] if archs else None
        links.choice("architecture", [network_label(a) for a in archs])
        _match_architecture(ctx.checkpoints, archs)
        if len(archs) > 1:  # a switch only where the dataset has both; it sets the default selection below
            architecture = sb.segmented_control(
                "Architecture", archs, default=archs[0], key="architecture", bind="query-params",
                format_func=network_label, on_change=_reset_models, args=(ctx.checkpoints,),
                help="Which network the default models use: the same likelihoods on the same data, only the "
                     "encoder and decoder differ, with the latent size and epochs each model's entry in zoo.toml "
                     "gives.") or archs[0]
        # The default must stay the same from run to run: a bound widget leaves its default out of the URL.
        # (Links and a change of dataset or architecture set the selection through session_state.)
        chosen = sb.multiselect("Models", names, default=default_models(ctx.checkpoints, ctx.dataset, architecture),
                                key="models", bind="query-params", on_change=_forget_set,
                                help="Every page shows these side by side.")
        by_name = {c.name: c for c in ctx.checkpoints}
        ctx.selected = [by_name[n] for n in chosen if n in by_name]
    sb.header("Run")
    ctx.device = sb.selectbox("Device", cache.device_options(), key="device",
                              help="Models run on the CPU unless a GPU is present and chosen here.")
    links.integer("seed", 0, MAX_SEED)
    ctx.seed = int(sb.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key="seed",  # starts at 0
                                   bind="query-params", help="Seeds every sample drawn on every page."))
    st.session_state[CONTEXT_KEY] = ctx
    return ctx


class Unseen:
    """Stands in for the sidebar where presenter mode hides it: nothing is drawn (its widgets, hidden but built, cost
    a fresh tab about 300 ms of JavaScript: docs/bench_presenter.md, eighth pass), and each widget returns the value
    it would show: its state (kept for the run that draws it again), else its URL parameter, else its default. One
    bound to the URL writes its value there as the widget would (its default left out), since Streamlit drops the
    parameter of a bound widget that a run does not draw."""

    def header(self, *_, **__) -> None:
        pass

    caption = header

    def expander(self, *_, **__) -> Unseen:
        return self

    @staticmethod
    def _state(key: str):
        """The widget's value in this session, kept: Streamlit drops the state of a widget a run does not draw."""
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
            return st.session_state[key]
        return None

    @staticmethod
    def _bound(key: str, value, default, shown: str | list[str]) -> None:
        """Write the URL as the bound widget would. In the first run without the widget its binding still holds
        the parameter (Streamlit refuses a write, and drops the parameter at the run's end): the next run writes it."""
        try:
            if value == default:
                st.query_params.pop(key, None)
            else:
                st.query_params[key] = shown
        except StreamlitAPIException:
            pass

    def text_input(self, _label, value: str = "", key: str = "", **__) -> str:
        kept = self._state(key)
        return value if kept is None else kept

    def selectbox(self, _label, options, key: str = "", bind: str | None = None, **__):
        options = list(options)
        kept, asked = self._state(key), st.query_params.get(key) if bind else None
        value = kept if kept in options else next((o for o in options if str(o) == asked), options[0])
        if bind:
            self._bound(key, value, options[0], str(value))
        return value

    def segmented_control(self, _label, options, default=None, key: str = "", bind: str | None = None,
                          format_func=str, **__):
        kept, asked = self._state(key), st.query_params.get(key) if bind else None
        value = kept if kept in options else next((o for o in options if format_func(o) == asked), default)
        if bind:
            self._bound(key, value, default, format_func(value))
        return value

    def multiselect(self, _label, options, default=(), key: str = "", bind: str | None = None, **__) -> list:
        kept = self._state(key)
        asked = st.query_params.get_all(key) if bind and key in st.query_params else None
        chosen = kept if kept is not None else asked if asked is not None else list(default)
        value = [o for o in chosen if o in options]
        if bind:
            self._bound(key, value, list(default), [str(v) for v in value])
        return value

    def number_input(self, _label, min_value=0, key: str = "", bind: str | None = None, **__):
        kept, asked = self._state(key), st.query_params.get(key) if bind else None
        value = kept if kept is not None else int(asked) if asked is not None else min_value
        if bind:
            self._bound(key, value, min_value, str(value))
        return value


OPEN = "open"  # marks a link that sets the selection (see ``link_params``)


def link_params(ckpt: Checkpoint) -> dict[str, str]:
    """Query parameters of a link that opens a page with just this model selected."""
    return {"dataset": ckpt.dataset, "models": ckpt.name, OPEN: "1"}


def _follow_link(datasets: list[str]) -> None:
    """Widgets bound to the URL take it only when a session starts; a link within the app (``link_params``) says
    explicitly that its dataset and models replace the current selection."""
    if st.query_params.get(OPEN) is None:
        return
    dataset = st.query_params.get("dataset")
    if dataset in datasets:
        st.session_state["dataset"] = dataset
    st.session_state["models"] = st.query_params.get_all("models")
    del st.query_params[OPEN]


def _follow_set(checkpoints: list[Checkpoint], dataset: str) -> None:
    """A named set in the URL (``board.SET_KEY``) becomes the selection, once: a later change of the selection takes
    it out of the URL (``_forget_set``). A set this dataset has too few models of is dropped with a note; one it has
    only partly shows the models it has and names the others while the URL names it."""
    names = [c.name for c in checkpoints if c.dataset == dataset]
    offered = {board.set_slug(title): members for title, members in board.model_sets(names, dataset)}
    links.choice(board.SET_KEY, list(offered))
    slug = st.query_params.get(board.SET_KEY)
    if slug not in offered:
        return
    if st.session_state.get(board.APPLIED_KEY) != slug:
        st.session_state["models"] = offered[slug]
        st.session_state[board.APPLIED_KEY] = slug
    lacking = board.missing_from_set(board.SET_BY_SLUG[slug], names, dataset)
    if lacking:
        st.info(f"The set \"{board.SET_BY_SLUG[slug]}\" shows the {len(offered[slug])} of its models this zoo has "
                f"for {dataset}; it has no {', '.join(lacking)}.", icon=":material/view_column:")


def _forget_set() -> None:
    """The selection was changed by hand: the URL no longer names a set."""
    st.session_state.pop(board.APPLIED_KEY, None)
    if board.SET_KEY in st.query_params:
        del st.query_params[board.SET_KEY]


def _match_architecture(checkpoints: list[Checkpoint], archs: list[str]) -> None:
    """The Architecture switch shows the selection's network (none when it mixes them), whatever set the selection:
    a link, a named set, the switch itself or the Models box."""
    selection = (st.session_state.get("models") if "models" in st.session_state
                 else st.query_params.get_all("models"))
    if not selection or len(archs) < 2:
        return
    by_name = {c.name: c.config.network for c in checkpoints}
    found = {by_name[n] for n in selection if n in by_name}
    shown = found.pop() if len(found) == 1 and found <= set(archs) else None
    in_url = {network_label(a): a for a in archs}.get(st.query_params.get("architecture"), archs[0])
    current = st.session_state.get("architecture", in_url)
    if current != shown:
        st.session_state["architecture"] = shown


def _reset_models(checkpoints: list[Checkpoint]) -> None:
    """A new dataset or architecture has other models: start from its default selection rather than an empty one."""
    _forget_set()
    dataset = st.session_state["dataset"]
    architecture = st.session_state.get("architecture")
    st.session_state["models"] = default_models(
        checkpoints, dataset, architecture if architecture in architectures(checkpoints, dataset) else None)


def get() -> Context:
    """The context app.py's sidebar built in this run; shows its notes (such as the Hub fallback) on the page."""
    ctx = st.session_state.get(CONTEXT_KEY)
    if not isinstance(ctx, Context):  # a page script run on its own (streamlit run app_pages/x.py)
        st.error("This page is part of the explorer: start it with `streamlit run app.py`.", icon=":material/error:")
        st.stop()
    for note in ctx.notes:
        st.warning(note, icon=":material/cloud_off:")
    return ctx


def forget() -> None:
    """Called by app.py after the page ran: the next run's page never sees this run's context."""
    st.session_state.pop(CONTEXT_KEY, None)


def instructions(ctx: Context) -> str:
    if ctx.locked:
        return "This server has no checkpoints to show at the moment; the folders it found are listed below."
    where = f"`{ctx.root}`" if ctx.root else f"`{links.shown([ctx.source], 200)}`"
    return (f"No checkpoints could be loaded from {where}. To get a zoo, either train it: "
            f"`python train.py --zoo zoo.toml --checkpoints checkpoints --download` (or `--data-dir` for a local "
            f"copy of the datasets), or point the app at one: set the source in the sidebar, or start it with "
            f"`{ZOO_ENV}=/path/to/checkpoints streamlit run app.py` (a Hub repo id `owner/name` works too, with "
            f"`{REVISION_ENV}` for a revision).")


def require_models(ctx: Context, at_least: int = 1) -> list[Checkpoint]:
    """The selected checkpoints, or a plain message and a stop when there are none."""
    if not ctx.checkpoints:
        st.error(instructions(ctx), icon=":material/folder_off:")
        _show_problems(ctx)
        st.stop()
    if len(ctx.selected) < at_least:
        st.info("Choose at least one model in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    return ctx.selected


def load_models(ctx: Context, checkpoints: list[Checkpoint]) -> list[tuple[Checkpoint, VAE]]:
    """(checkpoint, model) for each that loads; a plain error for each that does not (the rest still show)."""
    loaded = []
    for ckpt in checkpoints:
        try:
            loaded.append((ckpt, ctx.model(ckpt)))
        except ZooError as e:
            st.error(f"`{ckpt.name}` cannot be loaded: {ctx.public(str(e))}", icon=":material/error:")
    if not loaded:
        st.stop()
    return loaded


def _show_problems(ctx: Context) -> None:
    if ctx.problems:
        st.markdown("**These folders were found but could not be read:**")
        for _, message in ctx.problems:
            st.markdown(f"- {ctx.public(message)}")
