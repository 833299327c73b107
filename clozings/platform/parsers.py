"""Request body parsers of the API (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

Kernel module: imports no app, and not rest_framework.views (whose APIView reads the
parser setting while it is being imported).
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request body of this API nests deeper than a few levels (a batch of leads with their
# consent); a deeper one is refused before fields look into it: str() of a value nested
# hundreds deep overflows the stack as surely as the JSON decoder does.
MAX_JSON_DEPTH = 32
_TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def nesting_exceeds(value, limit: int) -> bool:
    """Does `value` (parsed JSON) nest lists and objects deeper than `limit`? No recursion."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a 400 `parse_error` instead of a 500 for a body nested too
    deeply (the decoder raises RecursionError, which DRF does not catch)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_TOO_DEEP) from exc
        if nesting_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(_TOO_DEEP)
        return data
