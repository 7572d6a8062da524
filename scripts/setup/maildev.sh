#!/usr/bin/env bash
# MailDev, the local SMTP catcher the end-to-end suite sends to (npm maildev@3,
# into .tools/maildev). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .tools/maildev/node_modules/.bin/maildev ]; then
  command -v npm >/dev/null || { echo "npm is needed to install MailDev (apt-get install -y npm)" >&2; exit 1; }
  echo "installing MailDev (npm maildev@3) into .tools/maildev"
  npm install --prefix .tools/maildev maildev@3 --no-audit --no-fund --silent
fi
