"""The sound stage and its library: decks, procedural synthesis, abstractions, loudness, MP3."""
