#!/usr/bin/env bash
# Install PyTorch into the given virtual environment, choosing the build for this machine:
# the CUDA build where an NVIDIA GPU is present, otherwise a CPU-only build (a few hundred MB
# instead of several GB). Override with TORCH_SPEC / TORCH_PIP_ARGS (see README, "Installing").
set -euo pipefail
pip="$1/bin/pip"
if [ -n "${TORCH_SPEC:-}" ]; then
  exec "$pip" install -q ${TORCH_PIP_ARGS:-} "$TORCH_SPEC"
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "install-torch: NVIDIA GPU found, installing the CUDA build of torch" >&2
  exec "$pip" install -q ${TORCH_PIP_ARGS:-} "torch>=2.6"
fi
# No GPU. PyPI's Linux x86-64 torch wheels are CUDA builds that pull several GB of nvidia-*
# packages; ask pip what it would install and, if that includes CUDA libraries, take the CPU
# build from PyTorch's own index instead. A machine with a local CPU wheel (a wheelhouse or
# find-links) gets it without any download.
spec="torch==2.13.0"
if "$pip" install --dry-run --quiet --report - ${TORCH_PIP_ARGS:-} "$spec" 2>/dev/null \
    | grep -q '"name": "nvidia-'; then
  echo "install-torch: no GPU; installing the CPU build of torch from download.pytorch.org" >&2
  exec "$pip" install -q --index-url https://download.pytorch.org/whl/cpu ${TORCH_PIP_ARGS:-} "$spec"
fi
echo "install-torch: no GPU; installing the CPU build of torch" >&2
exec "$pip" install -q ${TORCH_PIP_ARGS:-} "$spec"
