"""Label-efficiency experiments (inputs, runner, results) and the Compare page's numbers.
"""
