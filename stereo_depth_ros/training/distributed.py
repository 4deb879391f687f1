"""Where a training process stands: one CPU process, one GPU, or one rank of a ``torchrun`` job.

``torchrun --nproc-per-node N -m stereo_depth_ros.training.train ...`` starts N
processes with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set; each joins the
process group (NCCL on GPUs, gloo on CPUs), trains a DistributedDataParallel
replica on its own share of every step's samples, and rank 0 alone evaluates,
logs and writes checkpoints. Without those variables the run is one process.

Samples are split without repeats: step ``s`` of a run with per-process batch
``B`` on ``W`` processes uses the dataset indices
``first + s*B*W .. first + (s+1)*B*W - 1``, rank ``r`` taking the ``r``-th block
of ``B``. That is the sample stream of one process with batch ``B*W``, so a
two-process run follows the one-process run with the doubled batch (up to
batch-norm statistics, which each CPU process computes over its own ``B``
samples; on GPUs they are synchronised).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["TrainingProcess", "any_process", "finish", "mean_over_processes", "resolve_device", "sample_indices",
           "start"]


@dataclass(frozen=True)
class TrainingProcess:
    """This process's place in the run.

    Attributes:
        rank: 0 .. world_size - 1; rank 0 evaluates, logs and checkpoints.
        world_size: number of processes training together (1 without torchrun).
        device: where this process's replica runs.
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True for the process that evaluates, logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` (CUDA when PyTorch sees a GPU, else the CPU), ``"cpu"`` or ``"cuda"``.

    Raises:
        ValueError: an unknown name, or ``"cuda"`` without a usable GPU.
    """
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {requested!r}")
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("--device cuda, but PyTorch sees no GPU (a CPU build of torch, or no driver); "
                         "use --device cpu or auto")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def start(requested_device: str = "auto") -> TrainingProcess:
    """Join the ``torchrun`` process group if there is one, and pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(requested_device, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return TrainingProcess(rank=rank, world_size=world_size, device=device)


def finish(process: TrainingProcess, *, completed: bool) -> None:
    """Leave the process group (no-op for one process).

    ``completed``: this process finished its steps, so the others reach this point too. Then it first waits
    for all of them (rank 0 writes the last checkpoint after its last step, while the others are already here)
    and frees the DistributedDataParallel replica, which holds the group in reference cycles, while the
    interpreter is whole: a gloo process that tore down or exited alone could abort (SIGABRT, "terminate called
    without an active exception"; seen once in CI, in the two-process test). After an error it leaves at once.
    """
    if not (process.distributed and dist.is_initialized()):
        return
    if completed:
        dist.barrier()
        gc.collect()
    dist.destroy_process_group()


def sample_indices(*, first_sample: int, first_step: int, steps: int, batch_size: int,
                   process: TrainingProcess) -> list[int]:
    """This process's dataset indices for steps ``first_step .. steps - 1``, in order (module docstring)."""
    per_step = batch_size * process.world_size
    return [first_sample + step * per_step + process.rank * batch_size + item
            for step in range(first_step, steps) for item in range(batch_size)]


def mean_over_processes(value: torch.Tensor, process: TrainingProcess) -> torch.Tensor:
    """The mean of a scalar over all processes (itself for one process)."""
    if not process.distributed:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / process.world_size


def any_process(flag: bool, process: TrainingProcess) -> bool:
    """True on every process when ``flag`` is True on any (so all stop at the same step)."""
    if not process.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=process.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
