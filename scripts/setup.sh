#!/usr/bin/env bash
# Installs what moat's tests drive, once: a real LiteLLM proxy (PyPI) inside the checkout, and
# Debian's Chromium for the browser tests. Run from anywhere: `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The LiteLLM end-to-end test drives a real LiteLLM proxy (from PyPI, with mock
# responses): install it inside the checkout, once.
LITELLM_VERSION=1.106.2
if [ ! -x target/litellm/bin/litellm ]; then
  echo "== installing LiteLLM $LITELLM_VERSION into target/litellm"
  command -v python3 >/dev/null 2>&1 || { echo "python3 is required" >&2; exit 1; }
  mkdir -p target
  python3 -m venv target/litellm
  target/litellm/bin/pip install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi

# The report and dashboard tests open pages in a real headless Chromium (Debian's).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "== installing chromium"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium fonts-dejavu-core
  else
    echo "chromium is required for the browser tests (install it, or set MOAT_CHROMIUM)" >&2
    exit 1
  fi
fi

echo "== set-up done"
