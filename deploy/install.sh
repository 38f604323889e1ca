#!/usr/bin/env bash
# Installs (or upgrades) paperboy as a systemd service on this machine:
#   binary   /usr/local/bin/paperboy   (the one it replaces: paperboy.previous)
#   user     paperboy                  (/usr/lib/sysusers.d/paperboy.conf)
#   config   /etc/paperboy/paperboy.toml   (kept if present)
#   key      /etc/paperboy/signing.key     (generated if absent; root-only,
#                                           handed over with LoadCredential=)
#   state    /var/lib/paperboy             (database)
#   unit     /etc/systemd/system/paperboy.service
# It never overwrites a config or key and never starts or restarts the
# service; it prints what to do next.
#
# Usage: sudo deploy/install.sh            build with cargo, then install
#        sudo PAPERBOY_BIN=path deploy/install.sh   install a prebuilt binary
#        DESTDIR=/tmp/root PAPERBOY_BIN=path deploy/install.sh
#            stage into a directory instead (no user, no chown, no systemctl;
#            what scripts/check-deploy exercises)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
dest=${DESTDIR:-}

say() { printf '==> %s\n' "$*"; }

if [ -z "$dest" ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo), or set DESTDIR to stage files" >&2
    exit 1
fi

bin=${PAPERBOY_BIN:-}
if [ -z "$bin" ]; then
    say "building paperboy (cargo build --release --locked)"
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        # Build as the invoking user so target/ does not become root's.
        sudo -u "$SUDO_USER" -H -- sh -c 'cd "$1" && cargo build --release --locked' sh "$repo"
    else
        (cd "$repo" && cargo build --release --locked)
    fi
    bin=$repo/target/release/paperboy
fi
if [ ! -x "$bin" ]; then
    echo "install.sh: $bin is not an executable paperboy binary" >&2
    exit 1
fi

say "installing the binary to $dest/usr/local/bin/paperboy"
install -d -m 0755 "$dest/usr/local/bin"
if [ -e "$dest/usr/local/bin/paperboy" ]; then
    cp -p "$dest/usr/local/bin/paperboy" "$dest/usr/local/bin/paperboy.previous"
fi
install -m 0755 "$bin" "$dest/usr/local/bin/paperboy.new"
mv -f "$dest/usr/local/bin/paperboy.new" "$dest/usr/local/bin/paperboy"

say "installing the system user (sysusers.d)"
install -d -m 0755 "$dest/usr/lib/sysusers.d"
install -m 0644 "$here/paperboy.sysusers" "$dest/usr/lib/sysusers.d/paperboy.conf"
if [ -z "$dest" ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers /usr/lib/sysusers.d/paperboy.conf
    elif ! id paperboy >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/paperboy --shell /usr/sbin/nologin paperboy
    fi
fi

say "creating /etc/paperboy and /var/lib/paperboy"
install -d -m 0755 "$dest/etc/paperboy"
install -d -m 0700 "$dest/var/lib/paperboy"
if [ -z "$dest" ]; then
    chown paperboy:paperboy /var/lib/paperboy
fi

config=$dest/etc/paperboy/paperboy.toml
if [ -e "$config" ]; then
    say "keeping the existing $config"
else
    say "installing an example config to $config (edit it)"
    # The example, with the signing key read from the systemd credential
    # (the service cannot read /etc/paperboy/signing.key itself).
    # shellcheck disable=SC2016 # ${CREDENTIALS_DIRECTORY} is for paperboy, not the shell
    sed -e 's|^signing_key_file = .*|signing_key_file = "${CREDENTIALS_DIRECTORY}/signing.key"\ngenerate_missing_key = false|' \
        "$repo/config/paperboy.example.toml" >"$config.new"
    chmod 0640 "$config.new"
    if [ -z "$dest" ]; then
        chown root:paperboy "$config.new"
    fi
    mv "$config.new" "$config"
fi

key=$dest/etc/paperboy/signing.key
if [ -e "$key" ]; then
    say "keeping the existing signing key $key"
else
    say "generating a link-signing key in $key (root-only)"
    (
        umask 077
        printf '%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"$key.new"
    )
    mv "$key.new" "$key"
fi

say "installing the unit to $dest/etc/systemd/system/paperboy.service"
install -d -m 0755 "$dest/etc/systemd/system"
install -m 0644 "$here/paperboy.service" "$dest/etc/systemd/system/paperboy.service"
if [ -z "$dest" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

cat <<'NEXT'

paperboy is installed. Next steps:

 1. Edit /etc/paperboy/paperboy.toml:
    - [web] base_url: the public https URL of your reverse proxy (nginx,
      Caddy) forwarding to [web] listen (127.0.0.1:8080); every link in a
      mail starts with it.
    - [mail] from, smtp_url: your SMTP relay (smtp://relay:587?tls=required).
      Put the relay password in /etc/paperboy/smtp-password (chmod 600),
      uncomment LoadCredential=smtp-password:... in a drop-in
      (systemctl edit paperboy) and set
      smtp_password_file = "${CREDENTIALS_DIRECTORY}/smtp-password".
 2. DNS for the From: domain: an SPF record allowing your relay, a DKIM
    key (paperboy signs with [mail.dkim]: deploy/README.md, "DKIM"; or sign
    at the relay), and a DMARC record (p=none first, then tighten).
 3. Check and start:
      sudo systemd-run --pipe --wait -p User=paperboy \
        -p LoadCredential=signing.key:/etc/paperboy/signing.key \
        paperboy --config /etc/paperboy/paperboy.toml check
      sudo systemctl enable --now paperboy
      sudo -u paperboy paperboy --config /etc/paperboy/paperboy.toml status
 4. Back up /etc/paperboy/signing.key once, and the database daily:
      sudo -u paperboy paperboy --config /etc/paperboy/paperboy.toml \
        backup /var/lib/paperboy/backup-$(date +%F).db
    (deploy/README.md: upgrade, rollback, restore)
NEXT
