"""localstripe (the Stripe stand-in) with its state kept in a file of ours.

localstripe pickles its whole state to /tmp/localstripe.pickle, a path hard-coded in
localstripe/resources.py: one file for every localstripe on the machine, so another run's
customers leak into this one, and a pickle any local user planted there is loaded (and
unpickling runs code). This replaces that file with one private to this user, under
CLOZINGS_HOME, then runs localstripe's own server.

    python -m clozings.platform.localstripe_server --state FILE [--port N] [--from-scratch]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from pathlib import Path


def keep_state_in(path: Path) -> None:
    """Make localstripe load and save its state at `path` (mode 0600, written whole)."""
    from localstripe import resources

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load(store: dict) -> None:
        try:
            info = path.lstat()
        except FileNotFoundError:
            return
        if info.st_uid != os.getuid() or info.st_mode & 0o022 or not path.is_file():
            sys.exit(f"localstripe: {path} is not a file only this user can write; "
                     "not loading it (remove it to start afresh).")
        with path.open("rb") as file:
            saved = pickle.load(file)  # noqa: S301 (our own private file, checked above)
        store.clear()
        store.update(saved)

    def dump(store: dict) -> None:
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            pickle.dump(store, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="localstripe_server")
    parser.add_argument("--state", type=Path, required=True,
                        help="file localstripe keeps its state in")
    ours, theirs = parser.parse_known_args(argv)
    keep_state_in(ours.state.resolve())
    from localstripe import server

    sys.argv = ["localstripe", *theirs]
    server.start()


if __name__ == "__main__":
    main(sys.argv[1:])
