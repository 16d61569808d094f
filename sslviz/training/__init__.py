"""Training: the run config, the per-kind recipes, the training loop, the run store (SQLite +
one folder per run) and the background worker that runs jobs in their own processes.
"""
