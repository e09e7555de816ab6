"""`gateway explain`: pasted gateway log lines in, the causes they prove out."""

from checks.explain.engine import Explanation, Finding, explain, settling_line
from checks.explain.reading import MAX_BYTES, ExplainInputError, from_slack, read_bytes, read_text

__all__ = [
    "MAX_BYTES",
    "ExplainInputError",
    "Explanation",
    "Finding",
    "explain",
    "from_slack",
    "read_bytes",
    "read_text",
    "settling_line",
]
