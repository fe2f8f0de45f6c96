#!/bin/sh
# A headless browser for the HTML report test, from the system's packages: chromium and its chromedriver
# (Debian: chromium + chromium-driver; Ubuntu: chromium-browser + chromium-chromedriver). Nothing is downloaded
# from elsewhere. Without apt or root the test skips and says why; apt's errors are shown, never hidden.
if command -v chromedriver >/dev/null 2>&1 && { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="$(command -v sudo || true)"
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; }; then
    echo "install-browser: no apt-get or no root: the HTML report test will skip (install chromium and chromedriver to run it)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
$SUDO apt-get update -q >"$log" 2>&1
if $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >>"$log" 2>&1 \
   || $SUDO apt-get install -y -q --no-install-recommends chromium-browser chromium-chromedriver >>"$log" 2>&1; then
    echo "install-browser: installed chromium and chromedriver"
else
    echo "install-browser: apt could not install chromium (the HTML report test will skip); apt said:"
    tail -n 15 "$log"
fi
rm -f "$log"
exit 0
