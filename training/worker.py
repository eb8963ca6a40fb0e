"""One process of a distributed training run, as `accelerate launch` starts it (training.distributed):

    python -m training.worker --db STORE --run N [--resume]

It reads the run's config and data from the store and trains its part; only the main process
writes the store.
"""
from __future__ import annotations

import argparse
import os

from curate.store import Store
from training.train import fit_run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One process of a distributed training run.")
    parser.add_argument("--db", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    fit_run(Store(args.db, migrate=False), args.run, args.resume,
            show_progress=os.environ.get("TUNELOOP_SHOW_PROGRESS") == "1")


if __name__ == "__main__":
    main()
