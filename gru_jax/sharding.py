"""Placing the seed axis across devices (``jax.sharding``: a 1-D Mesh named "seeds").

With several local devices and a seed count they divide, every per-seed array is sharded on
its leading axis and the jitted vmap runs each device's seeds in place; results are equal to
the single-device run because seeds never interact. The default mesh holds this process's
devices only (``jax.local_devices()``): under ``jax.distributed`` each process trains its own
seeds (:mod:`gru_jax.distributed`), and ``jax.devices()`` would also list other processes'.
"""
from __future__ import annotations

from typing import Callable, Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def seed_mesh(devices=None) -> Mesh:
    devices = np.asarray(devices if devices is not None else jax.local_devices())
    return Mesh(devices.reshape(-1), ("seeds",))


def seed_sharding(n_seeds: int, mesh: Optional[Mesh] = None) -> Callable:
    """A function that puts a pytree with a leading seed axis onto the mesh.

    Identity when there is one device or ``n_seeds`` is not divisible by the device count.
    """
    mesh = mesh if mesh is not None else seed_mesh()
    if mesh.size == 1 or n_seeds % mesh.size:
        return lambda tree: tree
    sharding = NamedSharding(mesh, PartitionSpec("seeds"))
    return lambda tree: jax.device_put(tree, sharding)
