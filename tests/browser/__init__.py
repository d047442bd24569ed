"""Browser tests (marker `browser`): JupyterLab and nbgrader in headless Chromium."""
