"""The render half: models become a conversation (text, selfies, sounds) in a work folder."""
