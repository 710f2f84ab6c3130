"""Experiment recipes: each writes its table, JSON and plot to ``docs/experiments/``; none ships a model."""
