"""Fixtures of the browser tests: a JupyterLab server and headless Chromium.

Both are stopped by the fixtures themselves, whatever happens in the test: the
server runs in its own process group (killed as a group), the kernels it started
are shut down through its REST API and, failing that, found by their connection
files and killed one by one; the browser is quit in a `finally`.

Chromium and its driver come from Debian's packages (`make browser-deps`
installs them). They are never skipped: a machine without them fails the tests
with the command that installs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
JUPYTER = Path(sys.executable).parent / "jupyter"
INSTALL_HINT = ("the browser tests need Debian's Chromium and its WebDriver: run "
                "`make browser-deps` (as root) or `sudo apt-get install chromium chromium-driver`")
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token, its log, what it serves."""

    port: int
    token: str
    log: Path
    root_dir: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None


def _wait_for_url(proc: subprocess.Popen, log: Path, port: int) -> str:
    """The token URL the server prints, read from its log as it starts."""
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)")
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        match = pattern.search(log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    raise AssertionError(f"JupyterLab did not print its URL on 127.0.0.1:{port}; "
                         f"its log:\n{log.read_text(errors='replace')[-4000:]}")


def _wait_until_serving(lab: Lab) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            lab.api("status")
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _kernel_pids(runtime_dir: Path) -> list[int]:
    """Processes whose command line names a connection file in `runtime_dir`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(runtime_dir) in cmdline:
            pids.append(int(entry.name))
    return pids


def _stop(proc: subprocess.Popen, lab: Lab | None, runtime_dir: Path | None) -> None:
    if lab is not None and proc.poll() is None:
        with contextlib.suppress(Exception):
            for kernel in lab.api("kernels"):
                lab.api(f"kernels/{kernel['id']}", method="DELETE")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # Kernels run in sessions of their own: any the server left behind go too.
    for pid in _kernel_pids(runtime_dir) if runtime_dir is not None else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def jupyter_env(home: Path) -> dict[str, str]:
    """The environment the Makefile exports, with fresh config/runtime dirs in `home`.

    A fresh JUPYTER_CONFIG_DIR means no saved workspace or settings from an
    earlier run; JUPYTER_PATH is left alone so the venv's kernels and nbgrader's
    extensions stay visible.
    """
    env = dict(os.environ)
    for name, sub in [("JUPYTER_CONFIG_DIR", "jupyter/config"), ("JUPYTER_DATA_DIR", "jupyter/data"),
                      ("JUPYTER_RUNTIME_DIR", "jupyter/runtime"), ("IPYTHONDIR", "ipython"),
                      ("MPLCONFIGDIR", "matplotlib")]:
        env[name] = str(home / sub)
        (home / sub).mkdir(parents=True, exist_ok=True)
    # Answer JupyterLab's "notified about official Jupyter news?" toast with No
    # up front: it would cover part of the page (and the news needs a network).
    settings = home / "jupyter/config/lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}\n')
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["PATH"] = f"{JUPYTER.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@contextlib.contextmanager
def running_lab(root_dir: Path, home: Path, *, cwd: Path | None = None,
                via_make: bool = False) -> Iterator[Lab]:
    """Start JupyterLab as `make lab` does (127.0.0.1, a token, no browser).

    `via_make` runs `make lab` itself from the repository (it serves the
    repository); otherwise the same command line runs with `root_dir` as the
    served folder and `cwd` as the working directory (nbgrader reads
    nbgrader_config.py from there).
    """
    port = _free_port()
    env = jupyter_env(home)
    runtime_dir = Path(env["JUPYTER_RUNTIME_DIR"])
    if via_make:
        # make exports its own build/ dirs (shared with `make lab`): kernels
        # started there are shut down through the API only.
        command = ["make", "--no-print-directory", "lab", f"PORT={port}"]
        cwd = ROOT
        runtime_dir = None
    else:
        command = [str(JUPYTER), "lab", "--ip=127.0.0.1", f"--port={port}", "--no-browser",
                   "--allow-root", f"--ServerApp.root_dir={root_dir}"]
    log = home / f"jupyterlab-{port}.log"
    lab = None
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=cwd or root_dir, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        token = _wait_for_url(proc, log, port)
        lab = Lab(port=port, token=token, log=log, root_dir=root_dir)
        _wait_until_serving(lab)
        yield lab
    finally:
        _stop(proc, lab, runtime_dir)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copy(log, ARTIFACTS / log.name)


@pytest.fixture
def start_lab():
    """`start_lab(root_dir, home, ...)` starts a server (see `running_lab`) that is
    stopped when the test ends. Request it before `browser`, so the browser (and
    its failure screenshot) is done with the page before the server goes."""
    with contextlib.ExitStack() as stack:
        yield lambda *args, **kwargs: stack.enter_context(running_lab(*args, **kwargs))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _chromium_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if not chromium or not driver:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return chromium, driver


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest):
    """Headless Chromium driven through Debian's chromedriver; quit whatever happens.

    A failing test leaves a screenshot and the page's HTML in build/test-artifacts/.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(driver_path, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"\W+", "_", request.node.name)
            with contextlib.suppress(Exception):
                driver.save_screenshot(str(ARTIFACTS / f"{name}-failure.png"))
                (ARTIFACTS / f"{name}-failure.html").write_text(driver.page_source)
    finally:
        driver.quit()
