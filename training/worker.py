"""A training run in a process of its own, handed the run's id (its row holds the resolved config):

    python -m training.worker --db STORE --run N [--resume]          the whole run, under its job
    python -m training.worker --db STORE --run N [--resume] --part   one process of a distributed run

The app starts the first (training.background); `accelerate launch` starts the second, one per
process (training.distributed), where only the main process writes the store.
"""
from __future__ import annotations

import argparse
import os

from curate.store import Store
from training.train import fit_part, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train a run whose row the store holds.")
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--resume", action="store_true", help="Continue from the run's newest complete checkpoint.")
    parser.add_argument("--part", action="store_true", help="Be one process of the run's distributed launch.")
    args = parser.parse_args(argv)
    show_progress = os.environ.get("TUNELOOP_SHOW_PROGRESS") == "1"
    if args.part:
        fit_part(Store(args.db, migrate=False), args.run, args.resume, show_progress=show_progress)
    else:
        run(Store(args.db), args.run, resume=args.resume, show_progress=show_progress)


if __name__ == "__main__":
    main()
