"""Spoken messages: Piper voices with seeded noise (piper_voice), effects, one clip per message.

Needs the optional extra ``ghosts-render[voices]``; nothing here imports it until a voice is
loaded, so the package imports without it.
"""
