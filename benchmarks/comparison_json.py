"""The ``--json`` file of a comparison script (``bench_jumps_vs_stcal.py``, ``bench_optimal_vs_likely.py``): its
figures with a run record, which the documentation's build renders (``docs/_ext/results_tables.py``)."""

import json
import sys
import time
from pathlib import Path


def write_comparison(path: str, title: str, document: dict, started: float) -> None:
    """Write ``document`` (settings and ``results``, one dict per method) as a ``comparison`` page's source."""
    from hxrg_denoiser.bench.report import run_record

    record = run_record("python " + " ".join(sys.argv), time.perf_counter() - started)
    Path(path).write_text(json.dumps({"suite": "comparison", "title": title, **document, "run": record}, indent=2)
                          + "\n")
