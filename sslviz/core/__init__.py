"""Foundations every other folder may use, and which use nothing of sslviz above them: errors,
paths, settings, logs, the data-root allow-list, the compute pool and the torch.distributed
collectives.
"""
