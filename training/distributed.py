"""Training in several processes: `accelerate launch` starts them (DDP, or FSDP with --fsdp),
each runs training.worker as a module on the same run (--part), and the process that launched them
waits. The run's row and job are made before the launch and finished after it by the launching
process; inside the run only the main process (rank 0) writes the store (the curve, example
losses, the model's name), so the one-writer rule holds. On a machine without GPUs the processes
train on the CPU and talk through gloo, which is how the tests run two of them.
"""
from __future__ import annotations

import os
import subprocess
import sys

from curate.errors import TuneloopError
from curate.store import Store
from training.config import TrainConfig


def launch_command(store: Store, run_id: int, config: TrainConfig, resume: bool) -> list[str]:
    """`accelerate launch` for the run's processes: one machine, config.num_processes processes."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1",
               "--num_processes", str(config.num_processes), "--mixed_precision", "no", "--dynamo_backend", "no"]
    if config.fsdp:
        if not config.device.startswith("cuda"):
            raise TuneloopError("--fsdp shards the model across GPUs; on a CPU use plain data parallel (no --fsdp)")
        command += ["--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD",
                    "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP", "--fsdp_state_dict_type", "FULL_STATE_DICT"]
    else:
        command += ["--multi_gpu"]   # accelerate's DDP launcher (torchrun); on a CPU its processes use gloo
    command += ["--module", "training.worker", "--db", str(store.path), "--run", str(run_id), "--part"]
    return command + (["--resume"] if resume else [])


def run_processes(store: Store, run_id: int, config: TrainConfig, *, resume: bool, show_progress: bool = False) -> dict:
    """Launch the run's processes and wait; returns the metrics the main process stored."""
    from training.runs import get_run

    if config.device.startswith("cuda"):
        import torch

        if torch.cuda.device_count() < config.num_processes:
            raise TuneloopError(f"--num-processes {config.num_processes}: only {torch.cuda.device_count()} CUDA"
                                " device(s) here (one process per GPU)")
    env = {**os.environ, "TUNELOOP_SHOW_PROGRESS": "1" if show_progress else "0",
           "PYTHONPATH": os.pathsep.join([_project_root(), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(launch_command(store, run_id, config, resume), env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise TuneloopError(f"the training processes of run {run_id} failed (exit {done.returncode});"
                            f" their output is above, and `tuneloop train --resume {run_id}` continues it")
    return get_run(store, run_id)["metrics"] or {}


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
