#!/bin/sh
# certbot deploy hook: install as /etc/letsencrypt/renewal-hooks/deploy/keva-electrum.sh
# keva-electrum re-reads SSL_CERTFILE/SSL_KEYFILE when they change; this makes the reload
# immediate and lets the service user read the renewed key. Connected wallets stay connected.
set -eu
live="${RENEWED_LINEAGE:-/etc/letsencrypt/live/electrum.example.com}"
chgrp keva-electrum "$live/fullchain.pem" "$live/privkey.pem" 2>/dev/null || true
chmod 0640 "$live/privkey.pem"
systemctl reload keva-electrum
