"""Page content too long to read as a description of the UI: one module per page, one function per section."""
