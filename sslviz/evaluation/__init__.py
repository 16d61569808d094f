"""Frozen-feature evaluation: feature extraction, the kNN monitor, the collapse gauge, linear and few-shot protocols,
fine-tuning, and the statistics of paired few-label draws.
"""
