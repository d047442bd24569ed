"""Execute notebooks in place, reproducibly, so their stored outputs can be checked.

Maintainers run `make notebooks` (or `make notebooks NB=notebooks/02_forward_mode.ipynb`)
after changing a lesson. Cells run top to bottom in a fresh kernel started in the
notebook's folder; no per-cell timing metadata is recorded and split stream
outputs are merged, so re-running an unchanged notebook (whose outputs do not
depend on time) leaves the file byte for byte the same.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from grading.execute import over_ipc

KERNEL = "python3"


class _Client(NotebookClient):
    """nbclient's client, with the kernel on Unix sockets where it can be."""

    def create_kernel_manager(self) -> KernelManager:
        return over_ipc(super().create_kernel_manager())


def run(path: Path, timeout: int) -> None:
    """Execute one notebook and write it back with normalised metadata."""
    nb = nbformat.read(path, as_version=4)
    _Client(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
            resources={"metadata": {"path": str(path.parent)}}).execute()
    # One print can arrive as several stream messages; merge them so the stored
    # outputs do not depend on how the kernel happened to flush.
    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": KERNEL}
    nb.metadata.get("language_info", {}).pop("version", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    for path in paths:
        print(f"running {path}", flush=True)
        run(path, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
