"""Writers of what a researcher reads: the comparison (``compare.md``), the report
(``report.md``), single-network dissections (``dissect.md``), each with its PNG figures, and
the explorer (one self-contained HTML page).

They share :mod:`gru_jax.reports.markdown` (tables, numbered figures) and
:mod:`gru_jax.files` (atomic writes).
"""
from .compare import CompareOptions, run_compare
from .dissection import dissect_network, write_dissection
from .explorer import write_explorer
from .report import write_report

__all__ = ["CompareOptions", "run_compare", "dissect_network", "write_dissection",
           "write_explorer", "write_report"]
