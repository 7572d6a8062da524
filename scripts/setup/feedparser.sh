#!/bin/sh
# Python's feedparser (PyPI), the feed parser the archive's /feed.xml test
# (tests/it/readers.rs) reads the Atom feed with. Idempotent.
set -eu
if python3 -c 'import feedparser' 2>/dev/null; then
    exit 0
fi
python3 -m pip install --quiet 'feedparser==6.0.*'
python3 -c 'import feedparser; print("feedparser", feedparser.__version__)'
