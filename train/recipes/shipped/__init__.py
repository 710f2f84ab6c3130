"""Recipes that make the bundles shipped in ``models/`` (each writes one bundle and its card)."""
