"""The two-command set-up: `make lab` serves the repository, `make setup` is idempotent."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.setup

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _poll_json(url: str, deadline: float) -> dict:
    """GET `url` as JSON, retrying while the server is still opening its socket."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.load(response)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize("target, folder, expected", [
    ("lab", ".", {"notebooks", "course", "autodiff_lite", "README.md"}),
    ("formgrader", "course", {"source", "nbgrader_config.py"}),
])
def test_make_lab_and_formgrader_serve_their_folder_on_localhost(
        target: str, folder: str, expected: set[str]) -> None:
    port = _free_port()
    proc = subprocess.Popen(["make", "--no-print-directory", target, f"PORT={port}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            if match:
                url = match.group(0)
        assert url is not None, "JupyterLab did not print its URL on 127.0.0.1"
        token = url.rsplit("=", 1)[1]
        names = _poll_json(f"http://127.0.0.1:{port}/api/contents?token={token}",
                           deadline)["content"]
        names = {item["name"] for item in names}
        assert expected <= names, f"make {target} does not serve {folder}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_second_setup_installs_nothing() -> None:
    subprocess.run(["make", "setup"], cwd=ROOT, check=True, capture_output=True)
    plan = subprocess.run(["make", "-n", "setup"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    assert "pip" not in plan and "venv" not in plan


def test_without_dot_and_without_root_setup_prints_the_command(tmp_path: Path) -> None:
    # A PATH holding only what the recipe needs, no `dot`, and an `id` saying "not root".
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "make"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run(["make", "--no-print-directory", "graphviz"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "sudo apt-get install graphviz" in result.stderr
    assert "brew install graphviz" in result.stderr
