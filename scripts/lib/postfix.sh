# Sourced by the benchmark scripts: Postfix's smtp-sink and smtp-source,
# installed from Debian's packages if missing, with a policy-rc.d that
# refuses service starts (no mail daemon runs); puts /usr/sbin on PATH.
if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  echo "== installing postfix for smtp-sink/smtp-source (no mail daemon is started)"
  guard=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
export PATH=$PATH:/usr/sbin
