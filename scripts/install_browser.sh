#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the report's browser test. Idempotent and quiet:
# does nothing when both are present; needs root and apt-get otherwise (exits 1 with a reason).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium needs root and apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
