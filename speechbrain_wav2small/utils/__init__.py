"""Helpers shared by every layer: durable writes, distributed runs, hub ids,
model-file names, state-dict checks, presets and complexity counts.

Each module here is small and imports only what it needs, so that the
torch-free parts (``durable``, ``hub``, ``model_files``) stay torch-free.
"""
