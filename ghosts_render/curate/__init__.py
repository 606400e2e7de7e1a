"""Curation: change a rendered archive one recorded, undoable step at a time (docs/curating.md)."""
