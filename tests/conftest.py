"""Shared test settings: deterministic hypothesis runs and a headless matplotlib."""

import os

import matplotlib
from hypothesis import HealthCheck, settings

# Headless plots in this process only: kernels that tests start (JupyterLab,
# nbgrader) must keep Jupyter's inline backend, so MPLBACKEND is not set.
matplotlib.use("Agg")

# Derandomised so a CI failure reproduces exactly; no deadline because the first
# example of a test pays for imports and a loaded 2-core machine is slow.
settings.register_profile(
    "course", derandomize=True, deadline=None, max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))
