"""Command line of the grading package: ``autodiff-grade`` or ``python -m grading``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """\
usage: autodiff-grade COMMAND [ARGS...]

No command is available yet. The instructor commands (release, collect,
autograde, feedback, export grades) will come with the instructor pipeline.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Print the usage message to stderr and return 2: nothing is implemented yet."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        print(f"autodiff-grade: unknown command: {args[0]}", file=sys.stderr)
    print(USAGE, end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
