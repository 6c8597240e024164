"""What a study or a run stored: the one home of its schema, below both `search/` and `report/`.

    storage.py   storage URLs, locks, dead workers, masking; load_study for readers
    trials.py    the study/trial readers: baseline_trial, best_trial, curves, config overrides, objectives
    paths.py     one rule for where study X and its reports live, one safe file name

`search/` writes through it, `report/` and `confirm` read through it; it imports neither.
"""
