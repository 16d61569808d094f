"""Augmentation: pipelines of per-sample random operations applied to whole batches (the engine,
its torch path and its numba kernel), and the pretext-task generators that turn a batch into
(inputs, targets).
"""
