"""Data input: the one audio loader and SpeechBrain's data pipelines."""
