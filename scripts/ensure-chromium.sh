#!/usr/bin/env bash
# Make sure a headless-capable Chromium is installed, so the browser tests of `make test` (the
# HTML report rendered in a real browser, driven by playwright) can run. Installs Debian's
# `chromium` package when no chromium binary can be found; does nothing when one can. Playwright's
# own browser downloads are never used (there is no network for them). Works as root, or via sudo.
set -euo pipefail

find_chromium() {
  if [[ -n "${CRMPIPE_CHROMIUM:-}" && -x "${CRMPIPE_CHROMIUM}" ]]; then return 0; fi
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

if find_chromium; then
  echo "ensure-chromium: chromium is present"
  exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "$0")/apt.sh"
apt_install ensure-chromium chromium fonts-dejavu-core

if find_chromium; then
  echo "ensure-chromium: installed ($(command -v chromium || command -v chromium-browser))"
else
  echo "ensure-chromium: installation finished but no chromium binary was found" >&2
  exit 1
fi
