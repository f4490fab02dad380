"""The explorer for a server: `streamlit run serve.py` runs app.py as `streamlit run app.py` does, and also answers
a browser that asks for an address naming no page. Streamlit answers any such path with its index page, whose
scripts are linked relative to it: under a nested path (/a/b) they resolve to /a/static/... and the browser stays
blank. Here that answer becomes a redirect to a page that says so (explorer.navigation.not_found), for every
unknown path, nested or not.
"""
from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from streamlit.starlette import App

from explorer.navigation import known_address, not_found_address

# Streamlit's routes that serve content of their own (the API, media, components, the app's static files): their
# HTML, such as a component's page, is never the index page.
CONTENT_ROUTES = ("/_stcore/", "/media/", "/component/", "/app/static/")


class UnknownAddressRedirect:
    """ASGI middleware: where Streamlit would answer a GET or HEAD of an unknown path with its index page, answer
    with a redirect instead. Everything else (files, media, the health check, the websocket) passes untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or known_address(path)
                or path.startswith(CONTENT_ROUTES)):
            await self.app(scope, receive, send)
            return
        redirected = False

        async def send_or_redirect(message) -> None:
            nonlocal redirected
            if message["type"] == "http.response.start" and message["status"] == 200 and Headers(
                    raw=message.get("headers", [])).get("content-type", "").startswith("text/html"):
                redirected = True
                await RedirectResponse(not_found_address(path), status_code=302)(scope, receive, send)
            elif not redirected:  # the index page's body goes nowhere once the redirect is sent
                await send(message)

        await self.app(scope, receive, send_or_redirect)


app = App("app.py", middleware=[Middleware(UnknownAddressRedirect)])
