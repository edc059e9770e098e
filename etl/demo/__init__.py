"""The demo archive: a deterministic synthetic ALMA archive in the stand-in's contract tables.

``etl.demo.fill.fill_demo_archive`` writes the fixed cases (``etl.demo.fixed_cases.FIXED_CASES``, identical in
every archive) and a random ALMA-like population sized by ``etl.demo.scales.SCALES``; the same scale and seed
always give the same rows. ``etl.demo.job`` is the ``almamirror demo`` job. See docs/demo-archive.md.

Nothing is imported here, so that reading a scale's name does not load the generator.
"""
