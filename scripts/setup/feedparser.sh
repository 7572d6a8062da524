#!/bin/sh
# Python's feedparser (PyPI), the feed parser the archive's /feed.xml test
# (tests/it/web/readers.rs) reads the Atom feed with. Idempotent.
set -eu
if python3 -c 'import feedparser' 2>/dev/null; then
    exit 0
fi
# pip where the Python allows it; Debian's package where it is the
# system Python (PEP 668 refuses pip there, and there may be no pip).
if ! python3 -m pip install --quiet 'feedparser==6.0.*'; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-feedparser >/dev/null
fi
python3 -c 'import feedparser; print("feedparser", feedparser.__version__)'
