#!/bin/sh
# What the tests need from the system's packages (apt, as root; nothing is downloaded from elsewhere):
#   chromium and its chromedriver, for the HTML report test (Debian: chromium + chromium-driver; Ubuntu:
#   chromium-browser + chromium-chromedriver);
#   openssh-server and postgresql, for the device-lab tests (boards are local SSH servers; the shared store
#   is a PostgreSQL server the test starts in a temporary folder).
# Without apt or root, the tests that need a missing part skip and say why; apt's errors are shown, never hidden.
have_browser() {
    command -v chromedriver >/dev/null 2>&1 && { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null 2>&1
}
have_sshd() { command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; }
have_postgres() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if have_browser && have_sshd && have_postgres; then
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="$(command -v sudo || true)"
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; }; then
    echo "install-system: no apt-get or no root: tests needing chromium, sshd or PostgreSQL will skip (install them to run those)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
$SUDO apt-get update -q >"$log" 2>&1
install() {  # $1: what it is for; the rest: package names
    what="$1"; shift
    if $SUDO apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
        echo "install-system: installed $* ($what)"
        return 0
    fi
    return 1
}
if ! have_browser; then
    install "HTML report test" chromium chromium-driver || install "HTML report test" chromium-browser chromium-chromedriver \
        || { echo "install-system: apt could not install chromium (the HTML report test will skip); apt said:"; tail -n 15 "$log"; }
fi
if ! have_sshd; then
    install "lab tests: boards" openssh-server \
        || { echo "install-system: apt could not install openssh-server (the lab tests will skip); apt said:"; tail -n 15 "$log"; }
fi
if ! have_postgres; then
    install "lab tests: shared store" postgresql \
        || { echo "install-system: apt could not install postgresql (its lab test will skip); apt said:"; tail -n 15 "$log"; }
fi
rm -f "$log"
exit 0
