"""SavedModels for TF Serving: generators, pair generators and translators, with their parity
checks, and the export and translate commands.

Anything that writes a servable model or reads one back belongs here; restoring a
training run for inference is `common.training.runtime`'s.
"""
