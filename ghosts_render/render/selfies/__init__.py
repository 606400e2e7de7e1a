"""The selfie stage and its library: the project's own StyleGAN generators, JPEG/WebP encoding."""

# How StyleGAN2 layers draw their noise inputs, as gen_images.py's --noise-mode: the config's
# selfies.noise_mode, the selfie command's --noise-mode and the generators all check this one list.
# StyleGAN3 has no noise inputs and accepts any of them.
NOISE_MODES = ("const", "random", "none")
