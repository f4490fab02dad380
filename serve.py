"""The explorer for a server: `streamlit run serve.py` runs app.py as `streamlit run app.py` does, and also answers
a browser that asks for an address naming no page. Streamlit answers any such path with its index page, whose
scripts are linked relative to it: under a nested path (/a/b, /_stcore/x/y) they resolve to /a/static/... and the
browser stays blank; a path with a doubled slash (//sample) gets a bare "Bad Request". Here the first becomes a
redirect to a page that says so (explorer.navigation.not_found), for every unknown path, nested or not; the second
a redirect to the address with single slashes. At its start the server warms the explorer's caches in the background
(explorer.warmup): the imports, the zoo scan and the models are then under way before the first visitor asks.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

import streamlit as st
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from streamlit.starlette import App

from explorer import warmup
from explorer.navigation import known_address, not_found_address, single_slashes

# Streamlit's routes whose every answer is their own (media, components; the app's static files where served):
# their HTML, such as a component's page, is never the index page. /_stcore/ is not among them: its endpoints
# answer text or JSON, and any other path under it gets the index page.
CONTENT_ROUTES = ("/media/", "/component/") + (("/app/static/",) if st.get_option("server.enableStaticServing")
                                               else ())


class UnknownAddressRedirect:
    """ASGI middleware: where Streamlit would answer a GET or HEAD of an unknown path with its index page or a bare
    "Bad Request" (an unsafe-looking path), answer with a redirect instead. Everything else (files, media, the
    health check, the websocket) passes untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or path.startswith(CONTENT_ROUTES):
            await self.app(scope, receive, send)
            return
        if "//" in path:  # Streamlit refuses these (protocol-relative URLs); the target has one leading slash
            query = scope.get("query_string", b"").decode("latin-1")
            await RedirectResponse(single_slashes(path) + (f"?{query}" if query else ""), status_code=302)(
                scope, receive, send)
            return
        if known_address(path):
            await self.app(scope, receive, send)
            return
        redirected = False

        async def send_or_redirect(message) -> None:
            nonlocal redirected
            if message["type"] == "http.response.start" and (message["status"] == 400 or (
                    message["status"] == 200 and Headers(raw=message.get("headers", [])).get(
                        "content-type", "").startswith("text/html"))):
                redirected = True
                await RedirectResponse(not_found_address(path), status_code=302)(scope, receive, send)
            elif not redirected:  # the index page's body goes nowhere once the redirect is sent
                await send(message)

        await self.app(scope, receive, send_or_redirect)


@asynccontextmanager
async def warm_caches(_app):
    """Once the runtime has started (its caches exist), before the first visitor."""
    warmup.start()
    yield


app = App("app.py", middleware=[Middleware(UnknownAddressRedirect)], lifespan=warm_caches)
