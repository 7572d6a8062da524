#!/bin/sh
# The static site generators whose own feed output the feed tests
# (tests/it/content/feeds_sites.rs) read: Hugo, and Jekyll with the jekyll-feed
# plugin, from Debian's packages. Idempotent.
set -eu
have_jekyll_feed() {
    command -v jekyll >/dev/null 2>&1 && ruby -e 'require "jekyll-feed"' >/dev/null 2>&1
}
if command -v hugo >/dev/null 2>&1 && have_jekyll_feed; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq hugo jekyll ruby-jekyll-feed >/dev/null
hugo version
jekyll --version
