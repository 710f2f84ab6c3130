"""Training recipes: one function per shipped model, rerunnable by anyone (seeded)."""
