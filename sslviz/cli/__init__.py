"""The command line: `python -m sslviz train|eval|export|bench|...` (headless, scriptable).
"""
