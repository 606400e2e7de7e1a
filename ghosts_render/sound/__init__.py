"""Sound building blocks (numpy only): loading, loudness, synthesis, spectral blends, decks."""
