"""The selfie stage and its library: the project's own StyleGAN generators, JPEG/WebP encoding."""
