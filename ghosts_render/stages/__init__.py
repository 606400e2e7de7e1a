"""Render stages: text, selfies, sounds. Each turns a plan into data; none writes the archive."""
