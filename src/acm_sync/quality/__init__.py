"""Data quality: GX suites from `expectations/`, row quarantine, issue texts, gates.

Kept import-light (the config imports `quality.settings`); the engine is in `quality.engine`.
"""
