"""A loopback stand-in for Meta's Graph API, for `clozings run` and `clozings simulate`:
the Meta Lead Ads adapter reads each lead from `META_GRAPH_API_BASE/<leadgen_id>`, and on
one machine there is no Meta to read from.

It answers `GET /<version>/<leadgen_id>?access_token=...` with the lead kept in
`<directory>/<leadgen_id>.json` (written by `clozings simulate`: `{"access_token": ...,
"lead": {...}}`), as the Graph API does: 200 with the lead, 400 for another access token,
404 for an id it does not know. Nothing else is served; nothing leaves the machine.

    python -m clozings.platform.graph_standin --port 8010 --directory ~/.clozings/graph-leads
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

VERSION = "v19.0"
LEADGEN_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def lead_path(directory: Path, leadgen_id: str) -> Path:
    if not LEADGEN_ID.match(leadgen_id):
        raise ValueError(f"not a leadgen id: {leadgen_id!r}")
    return directory / f"{leadgen_id}.json"


def put_lead(directory: Path, *, leadgen_id: str, access_token: str, lead: dict) -> None:
    """Keep a lead for the stand-in to serve (written whole, then renamed into place)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = lead_path(directory, leadgen_id)
    part = path.with_suffix(".part")
    part.write_text(json.dumps({"access_token": access_token, "lead": lead}))
    part.replace(path)


def _handler(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            leadgen_id = url.path.rsplit("/", 1)[-1]
            try:
                kept = json.loads(lead_path(directory, leadgen_id).read_text())
            except (ValueError, OSError):
                kept = None
            if kept is None:
                status, body = 404, {"error": {"message": "Unsupported get request.",
                                               "type": "GraphMethodException", "code": 100}}
            elif query.get("access_token") != kept.get("access_token"):
                status, body = 400, {"error": {"message": "Invalid OAuth access token.",
                                               "type": "OAuthException", "code": 190}}
            else:
                status, body = 200, kept.get("lead")
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    return Handler


def serve(directory: Path, *, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve in a background thread; returns the server (shutdown() stops it) and the API
    base to put in META_GRAPH_API_BASE."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(Path(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/{VERSION}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(args.directory))
    server.serve_forever()


if __name__ == "__main__":
    main()
