#!/bin/sh
# Sisimai (Debian's libsisimai-perl): the bounce classifier used as an oracle
# by the differential test tests/it/bounces/sisimai.rs. Idempotent.
set -eu
if perl -MSisimai -e 1 2>/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libsisimai-perl >/dev/null
perl -MSisimai -e 'print "Sisimai $Sisimai::VERSION\n"'
