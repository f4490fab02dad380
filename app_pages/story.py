"""Story: the argument that maximum likelihood can mislead, step by step on the zoo's checkpoints, one address each
(?step=...), a short caption and one live figure per step. Keys: Right / Left for the next / previous step."""
from __future__ import annotations

import streamlit as st

from explorer import context, presenter, story

ctx = context.get()
context.require_models(ctx, at_least=0)
story.check_links()

bar = st.container(horizontal=True, vertical_alignment="center", gap="small")
bar.button("Previous", key="story_previous", icon=":material/arrow_back:", shortcut=story.SHORTCUTS["previous"],
           on_click=story.go, args=(-1,), help="The previous step")
slug = bar.segmented_control("Step", list(story.BY_SLUG), default=story.STEPS[0].slug,
                             required=True, key=story.STEP_KEY, bind="query-params", label_visibility="collapsed")
bar.button("Next", key="story_next", icon=":material/arrow_forward:", icon_position="right",
           shortcut=story.SHORTCUTS["next"], on_click=story.go, args=(1,), help="The next step")
presenter.switch(bar)
presenter.keep_keys()
step = story.BY_SLUG[slug]
st.subheader(story.heading(step, ctx.checkpoints, ctx.dataset))
step.draw(ctx)
