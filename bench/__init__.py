"""uactor benchmark suite: ``python -m bench`` (``--quick``, ``--only``, ``--json``).

The suite measures uactor side by side with the floors it is built on (raw
``multiprocessing.Pipe`` and ``multiprocessing.managers.BaseManager``) and with
peers (Pyro5, RPyC) in one run, prints a markdown table per group with the
ratio of every row to the group's floor, and writes the results and the machine
they ran on to JSON so that runs can be compared.  Benchmarks are not tests:
``tests/bench/`` only checks that the suite runs.

Contributing an area
--------------------
Any module ``bench/bench_<area>.py`` is discovered and run in its own worker
process.  It exposes::

    def run(quick: bool) -> list[dict]: ...

returning one dict per measurement::

    {"group": "registry-lookup", "name": "lookup by name", "value": 180.0,
     "unit": "us", "samples": 200, "note": "median of 200 lookups"}

``value`` is the median (``None`` only for a skipped row); ``unit`` is one of
``us``, ``ms``, ``s``, ``MB``, ``ops/s``, ``MB/s`` (rates are higher-is-better,
everything else lower-is-better).  Optional keys the harness understands:

``p10``, ``p90``
    spread of the samples, same unit as ``value``.
``raw``
    the samples themselves (same unit); rows of one group with equally many
    raw samples taken in the same rounds get a confidence interval on their
    target ratios.
``floor``
    ``True`` on the row the group's other rows are compared to (ratio 1.00).
``targets``
    list of ``{"ref": row name in the same group, "op": "<=" or ">=",
    "factor": float, "label": str}``: PASS when ``value op factor * ref``
    (``"ref_group"`` names another group to find ``ref`` in).
``skipped``
    ``True`` when the measurement could not run (``value`` is ``None`` and
    ``note`` says why).

A module may also define ``GROUPS`` (a tuple of the group names it produces)
so that ``--only GROUP`` can select it without running it, and accept an
``only`` keyword in ``run`` to skip unselected groups itself.
"""
