"""The steps of a sync: rows staged, merged into a mirror table, and the figures of what each step did.

Below both loading (source tables) and deriving (tables computed from the mirror), which use it alike.
"""
