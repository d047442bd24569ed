"""What students see in their feedback: the verdict of each test, never its secrets.

nbgrader renders the autograded notebook as the feedback HTML. The tracebacks of
failing test cells quote the cell's code (hidden tests included) and the
message of a failing hidden test names its inputs and expected values. This
preprocessor, listed in the course's `GenerateFeedback.preprocessors`, keeps
only the last line of each test cell's error and replaces a hidden test's
message with a neutral one. The instructor's autograded notebook keeps the full
message.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor

# Checks prefix the message of a failure on a hidden test's seed with this.
HIDDEN_MARK = "[hidden test]"
# A hidden test prints this line first; the feedback drops the output after it.
HIDDEN_OUTPUT = "[hidden tests: their output is not shown in the feedback]"
HIDDEN_FEEDBACK = ("a hidden test failed: your code is wrong on inputs other than the "
                   "visible tests' ones. Test it on more cases.")


class ShortTestTracebacks(Preprocessor):
    """Trim test-cell tracebacks to `Error: message` and redact hidden-test messages."""

    enabled = True  # nbconvert skips preprocessors that are not enabled

    def preprocess_cell(self, cell: Any, resources: dict, index: int) -> tuple[Any, dict]:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return cell, resources
        kept, hidden = [], False
        for out in _joined_streams(cell.outputs):
            if out.output_type == "stream":
                if hidden:
                    continue  # printed while a hidden test ran
                text = str(out.text)
                if HIDDEN_OUTPUT in text:
                    hidden = True
                    out.text = text[:text.index(HIDDEN_OUTPUT) + len(HIDDEN_OUTPUT)] + "\n"
            elif out.output_type == "error":
                if hidden or str(out.evalue).startswith(HIDDEN_MARK):
                    out.ename, out.evalue = "AssertionError", HIDDEN_FEEDBACK
                out.traceback = [f"{out.ename}: {out.evalue}"]
            elif hidden:
                continue  # a display made while a hidden test ran
            kept.append(out)
        cell.outputs = kept
        return cell, resources


def _joined_streams(outputs: list) -> list:
    """Consecutive pieces of one stream as one output: the kernel sends a print in
    pieces when its flush timer fires in the middle (`LEAK`, then ` (2.0, 5.0)`),
    and the feedback shows each piece as a block of its own."""
    joined: list = []
    for out in outputs:
        last = joined[-1] if joined else None
        if (out.output_type == "stream" and last is not None
                and last.output_type == "stream" and last.name == out.name):
            last.text = str(last.text) + str(out.text)
        else:
            joined.append(out)
    return joined
