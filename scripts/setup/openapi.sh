#!/bin/sh
# openapi-spec-validator (PyPI), the independent validator the admin API's
# OpenAPI document is checked with (tests/it/api_ops.rs). Idempotent.
set -eu
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    exit 0
fi
# pip where the Python allows it; Debian's package where it is the
# system Python (PEP 668 refuses pip there, and there may be no pip).
if ! python3 -m pip install --quiet 'openapi-spec-validator>=0.7,<1'; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-openapi-spec-validator >/dev/null
fi
python3 -c 'import openapi_spec_validator; print("openapi-spec-validator ok")'
