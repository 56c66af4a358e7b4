"""``python -m gru_jax ...`` runs the ``gru-jax`` command line (:func:`gru_jax.cli.main`)."""
import sys

from .cli import main

sys.exit(main())
