"""gru_jax: the adding-problem GRU of the blog series, trained as seed ensembles in JAX.

Public API::

    cfg = Config()                          # the blog's protocol
    X, Y = seed_dataset(cfg, seed=37)       # == the seed's numpy generator
    params = init_params(cfg, key)          # PyTorch layout
    y, hs = forward(params, x)              # x (B, T, 2) value / high; y (B, 1); hs (B, T, H)
    sd = to_state_dict(params); params = from_state_dict(sd)
    run = train(cfg, seeds=range(256))      # -> Run
    sw = sweep(cfg, {"learning_rate": [1e-4, 1e-3]}, seeds=range(64), out="runs/sw")  # Sweep
    run.save(path); Run.load(path)
"""
from . import blog
from .config import Config
from .data import seed_dataset
from .interop import export_blog_files, from_state_dict, load_blog_weights, to_state_dict
from .model import forward, init_params
from .run import Run, RunError
from .sweeps import Sweep, sweep
from .train import train

from .version import __version__  # the one version source

__all__ = ["__version__", "blog", "Config", "seed_dataset", "init_params", "forward",
           "to_state_dict", "from_state_dict", "export_blog_files", "load_blog_weights",
           "train", "sweep", "Sweep", "Run", "RunError"]
