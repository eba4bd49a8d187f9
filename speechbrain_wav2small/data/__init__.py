"""Data files shipped with the package (reference speech)."""
