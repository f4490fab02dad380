"""Board: three or four models side by side on one screen, for a talk. Keys: N / P next / previous test images,
S new samples, M next model set. Presenter mode (the switch, ?presenter=true, or embedded with ?embed=true): large
type, no sidebar. Works from a link (models, seed and image in the URL).
"""
from __future__ import annotations

import streamlit as st

from explorer import board, cache, context, presenter

ctx = context.get()
selected = context.require_models(ctx)
images, _ = cache.sample_set(ctx.dataset)
board.check_links(len(images))
sets = board.model_sets([c.name for c in ctx.for_dataset()], ctx.dataset)
following = board.next_set([c.name for c in selected], sets)

bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
first = int(bar.number_input("First test image", 0, len(images) - 1, key=board.IMAGE_KEY, bind="query-params",
                             label_visibility="collapsed", width=120,
                             help=f"Index of the first of {board.TILES} test images (0-{len(images) - 1})"))
bar.button("Back", key="board_back", icon=":material/skip_previous:", shortcut=board.SHORTCUTS["previous"],
           on_click=board.step_image, args=(-board.TILES, len(images)), help="The previous test images")
bar.button("Next", key="board_next", icon=":material/skip_next:", shortcut=board.SHORTCUTS["next"],
           on_click=board.step_image, args=(board.TILES, len(images)), help="The next test images")
bar.button("New samples", key="board_samples", icon=":material/casino:", shortcut=board.SHORTCUTS["samples"],
           on_click=board.new_samples, args=(ctx.seed, context.MAX_SEED), help="The next seed")
bar.button("Next set", key="board_set", icon=":material/view_column:", shortcut=board.SHORTCUTS["set"],
           on_click=board.choose_set, args=(following[1], following[0]) if following else ([],),
           disabled=following is None,
           help=f"Next: {following[0]}" if following else "No set of models of this dataset is in the zoo")
presenting = presenter.switch(bar)
presenter.keep_keys()
title = board.set_title([c.name for c in selected], sets)
shown = selected[:board.MAX_COLUMNS]
bar.caption((f"**{title}**" if title else "your selection") + f", seed {ctx.seed}" +
            (f" (the first {board.MAX_COLUMNS} of {len(selected)})" if len(selected) > len(shown) else ""))

loaded = context.load_models(ctx, shown)
board.show(loaded, [ctx.key(c) for c, _ in loaded], images, first, ctx.seed, presenting)
