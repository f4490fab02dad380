"""Moved to explorer/browser.py (scripts import it too, and scripts never import from tests). Kept while tests
written against the old name land; import from explorer.browser."""
from explorer.browser import *  # noqa: F403
