"""The archive half: a conversation becomes a folder that plays anywhere (no models, no torch)."""
