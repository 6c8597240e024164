"""Measuring hpsearch (benchmarks, not tests): `hpsearch bench` and its modes.

throughput.py  training images/s of the hpsearch path against a plain model.fit, per backend
workers.py     a study's trials/hour with --workers 1 and with --workers N (--study)
search.py      which search strategy finds the most per epoch (--search)
"""
