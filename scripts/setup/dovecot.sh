#!/bin/sh
# Dovecot's IMAP server for tests/it/bounces/imap.rs, which starts its own
# instance on a loopback port from a temporary configuration. No system
# service is started or enabled. Idempotent.
set -eu
if [ -x /usr/sbin/dovecot ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Refuse service starts during installation: the test runs its own Dovecot.
POLICY=/usr/sbin/policy-rc.d
CREATED=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED=1
    # Whatever happens below, no policy file is left behind.
    trap '$SUDO rm -f "$POLICY"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq dovecot-imapd >/dev/null
/usr/sbin/dovecot --version
