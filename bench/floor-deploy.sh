#!/usr/bin/env bash
# Usage: bench/floor-deploy.sh CONTAINER REPO COMMIT
#
# The floor the Ansible deploy is measured against: a plain shell script that
# deploys COMMIT of the git repository REPO (its app/ folder) to the systemd
# container CONTAINER through `docker exec`, as site.yml does, with no
# Ansible: the same packages, users, directories, settings files, certificate,
# nginx site, gunicorn socket and sandboxed service, and the same release
# layout (releases/<commit>/ with its own virtualenv and static files, an
# atomically switched `current`). It ends when the site answers through nginx
# by its domain and /health/ reports COMMIT, as the Ansible deploy's health
# gate does.
#
# It is idempotent and does the least work a careful script would:
#   - on a fresh container, everything (the "cold" deploy);
#   - run again with the same COMMIT, it only checks: packages present, files
#     unchanged, release built and current, services up, site healthy;
#   - with a new COMMIT, it builds the new release beside the serving one
#     (code, virtualenv, pip, collectstatic, gzip copies of the text static
#     files), migrates, switches `current` and restarts gunicorn.
#
# What it leaves out, on purpose (the Ansible deploy's safety net, not part of
# what a visitor sees): the settings checks (preflight), the deploy lock,
# `check --deploy`, `migrate --plan`, the database backup before migrating,
# the revert when something fails, the deploy log, release pruning, and the
# packages only Ansible itself needs on a server (python3-packaging, acl).
#
# Environment:
#   FLOOR_DOMAIN     the site's domain (default superlists-staging.localhost)
#   FLOOR_HARDENING  1 (default): also the host hardening site.yml does on a
#                    container (nftables firewall, unattended-upgrades, hardened
#                    sshd); 0: the site only.
set -euo pipefail

[ $# -eq 3 ] || { sed -n '2p' "$0" >&2; exit 2; }
container=$1
repo=$2
commit=$(git -C "$repo" rev-parse --verify --quiet "$3^{commit}") || { echo "error: no commit $3 in $repo" >&2; exit 2; }

vars=(
  -e "DOMAIN=${FLOOR_DOMAIN:-superlists-staging.localhost}"
  -e "COMMIT=$commit"
  -e "HARDENING=${FLOOR_HARDENING:-1}"
  -e SITE_USER=elspeth
  -e SERVICE_USER=superlists-staging
)

# 1. As root: packages, users, directories, settings, hardening, nginx and
#    the units. Prints "build" or "built", then the names of what changed.
state=$(docker exec -i "${vars[@]}" "$container" bash -euo pipefail -s <<'REMOTE'
export DEBIAN_FRONTEND=noninteractive
root=/home/$SITE_USER/sites/$DOMAIN
release=$root/releases/$COMMIT
changed=""

# put PATH MODE OWNER:GROUP TAG < content: write the file only if it differs.
put() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
  else
    install -m "$2" -o "${3%:*}" -g "${3#*:}" "$tmp" "$1"
    rm -f "$tmp"
    changed="$changed $4"
  fi
}

packages=(python3 python3-venv git nginx)
[ "$HARDENING" = 1 ] && packages+=(nftables unattended-upgrades openssh-server)
if ! status=$(dpkg-query -W -f='${db:Status-Status}\n' "${packages[@]}" 2>/dev/null) \
    || grep -qvx installed <<<"$status"; then
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
  changed="$changed packages"
fi

id "$SITE_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$SITE_USER"
chmod 0711 "/home/$SITE_USER"
id "$SERVICE_USER" >/dev/null 2>&1 \
  || useradd --system --shell /usr/sbin/nologin --home-dir /nonexistent --no-create-home "$SERVICE_USER"
install -d -o "$SITE_USER" -g "$SITE_USER" -m 0755 "/home/$SITE_USER/sites" "$root" "$root/releases"
install -d -o "$SITE_USER" -g "$SERVICE_USER" -m 0750 "$root/shared"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$root/shared/data"

if [ ! -f "$root/shared/secret.env" ]; then
  (umask 077 && python3 -c 'import secrets; print("DJANGO_SECRET_KEY=" + secrets.token_urlsafe(50))' \
    >"$root/shared/secret.env.new")
  chown "$SITE_USER:$SERVICE_USER" "$root/shared/secret.env.new"
  chmod 0640 "$root/shared/secret.env.new"
  mv "$root/shared/secret.env.new" "$root/shared/secret.env"
fi
put "$root/shared/env" 0640 "$SITE_USER:$SERVICE_USER" env <<EOF
DJANGO_DEBUG_FALSE=1
DJANGO_ALLOWED_HOSTS=$DOMAIN
DJANGO_DB_PATH=$root/shared/data/db.sqlite3
DJANGO_HTTPS=1
DJANGO_HSTS_SECONDS=31536000
DJANGO_HSTS_INCLUDE_SUBDOMAINS=1
DJANGO_HSTS_PRELOAD=
EOF
put "$root/shared/vault.env" 0640 "$SITE_USER:$SERVICE_USER" env <<EOF
# The operator's secrets (none here).
EOF
put "$root/manage" 0750 "$SITE_USER:$SERVICE_USER" manage <<EOF
#!/bin/sh
set -eu
set -a
. $root/shared/env
. $root/shared/secret.env
. $root/shared/vault.env
set +a
cd "\${RELEASE:-$root/current}"
exec .venv/bin/python manage.py "\$@"
EOF

if [ "$HARDENING" = 1 ]; then
  put /etc/nftables.conf 0755 root:root firewall <<'EOF'
#!/usr/sbin/nft -f
table inet host_firewall
delete table inet host_firewall

table inet host_firewall {
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept
        ct state invalid drop
        iif lo accept
        meta l4proto { icmp, ipv6-icmp } accept
        tcp dport { 22, 80, 443 } accept
        counter drop
    }
}
EOF
  put /etc/apt/apt.conf.d/20auto-upgrades 0644 root:root upgrades <<'EOF'
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
EOF
  put /etc/ssh/sshd_config.d/00-host-hardening.conf 0644 root:root ssh <<EOF
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AuthenticationMethods publickey
AllowUsers $SITE_USER
MaxAuthTries 3
LoginGraceTime 30
ClientAliveInterval 300
ClientAliveCountMax 2
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
PermitUserEnvironment no
EOF
  case " $changed " in *" firewall "*) systemctl enable -q nftables && systemctl restart nftables ;; esac
  case " $changed " in *" ssh "*) /usr/sbin/sshd -t && systemctl enable -q ssh && systemctl reload-or-restart ssh ;; esac
fi

# nginx: the stock site goes, TLS 1.2+ only, no version number, the
# server-wide settings, a self-signed certificate (made once) and the site.
if [ -e /etc/nginx/sites-enabled/default ]; then
  rm -f /etc/nginx/sites-enabled/default
  changed="$changed nginx"
fi
put /etc/nginx/nginx.conf 0644 root:root nginx < <(
  sed -e 's/^\s*ssl_protocols\s.*/\tssl_protocols TLSv1.2 TLSv1.3;/' \
      -e 's/^\s*#\?\s*server_tokens\s.*/\tserver_tokens off;/' /etc/nginx/nginx.conf)
put /etc/nginx/conf.d/00-http.conf 0644 root:root nginx <<'EOF'
server_names_hash_bucket_size 512;
client_max_body_size 1m;
client_header_timeout 10s;
client_body_timeout 10s;
send_timeout 10s;
keepalive_timeout 15s;
ssl_session_cache shared:SSL:10m;
ssl_session_timeout 1d;
ssl_session_tickets off;
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    listen 443 ssl default_server;
    listen [::]:443 ssl default_server;
    ssl_reject_handshake on;
    server_name _;
    return 444;
}
EOF
tls=/etc/nginx/tls
if [ ! -f "$tls/$DOMAIN.crt" ]; then
  install -d -m 0700 "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
    -keyout "$tls/$DOMAIN.key" -out "$tls/$DOMAIN.crt" 2>/dev/null
  chmod 0600 "$tls/$DOMAIN.key"
  changed="$changed nginx"
fi
sock=/run/gunicorn/$DOMAIN.sock
put "/etc/nginx/conf.d/site-$DOMAIN.conf" 0644 root:root nginx <<EOF
server {
    listen 80;
    listen [::]:80;
    server_name $DOMAIN;
    location / {
        return 301 https://\$host\$request_uri;
    }
}

server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name $DOMAIN;
    ssl_certificate $tls/$DOMAIN.crt;
    ssl_certificate_key $tls/$DOMAIN.key;
    ssl_protocols TLSv1.2 TLSv1.3;

    location /static/ {
        alias $root/current/static/;
        gzip_static on;
        gzip_vary on;
        add_header X-Content-Type-Options nosniff always;
        add_header X-Frame-Options DENY always;
        add_header Referrer-Policy same-origin always;
        add_header Cross-Origin-Opener-Policy same-origin always;
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
    }

    location / {
        proxy_pass http://unix:$sock;
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_redirect off;
        proxy_read_timeout 35s;
    }
}
EOF

unit=gunicorn-$DOMAIN
put "/etc/systemd/system/$unit.socket" 0644 root:root socket <<EOF
[Unit]
Description=gunicorn socket for $DOMAIN

[Socket]
ListenStream=$sock
SocketUser=www-data
SocketGroup=www-data
SocketMode=0600

[Install]
WantedBy=sockets.target
EOF
put "/etc/systemd/system/$unit.service" 0644 root:root service <<EOF
[Unit]
Description=gunicorn for $DOMAIN
Requires=$unit.socket
After=network.target $unit.socket
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
User=$SERVICE_USER
Group=$SERVICE_USER
WorkingDirectory=$root/current
EnvironmentFile=$root/shared/env
EnvironmentFile=$root/shared/secret.env
EnvironmentFile=$root/shared/vault.env
ExecStart=$root/current/.venv/bin/gunicorn --workers 2 --timeout 30 --access-logfile - superlists.wsgi:application
ExecReload=/bin/kill -s HUP \$MAINPID
KillMode=mixed
Restart=on-failure
RestartSec=2
UMask=0027
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=$root/shared/data
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictSUIDSGID=true
RestrictRealtime=true
RestrictNamespaces=true
LockPersonality=true
CapabilityBoundingSet=
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
EOF

if [ -f "$release/REVISION" ]; then
  echo "built$changed"
else
  rm -rf "$release"
  install -d -o "$SITE_USER" -g "$SITE_USER" -m 0755 "$release"
  echo "build$changed"
fi
REMOTE
)
read -r build changed <<<"$state"

# 2. The code of the commit, as the site user, when the release is new.
if [ "$build" = build ]; then
  git -C "$repo" -c tar.umask=0022 archive --format=tar "$commit:app" \
    | docker exec -i -u elspeth "$container" tar -x -C "/home/elspeth/sites/${FLOOR_DOMAIN:-superlists-staging.localhost}/releases/$commit"
fi

# 3. Build the release (site user), migrate (service user), switch, start or
#    restart what changed, and wait until the site is healthy on COMMIT.
docker exec -i "${vars[@]}" -e "BUILD=$build" -e "CHANGED=$changed" "$container" bash -euo pipefail -s <<'REMOTE'
root=/home/$SITE_USER/sites/$DOMAIN
release=$root/releases/$COMMIT
unit=gunicorn-$DOMAIN
has() { case " $CHANGED " in *" $1 "*) return 0 ;; esac; return 1; }
as_site() { sudo -H -u "$SITE_USER" "$@"; }

if [ "$BUILD" = build ]; then
  as_site python3 -m venv "$release/.venv"
  (cd "$release" && as_site env PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    .venv/bin/pip install --quiet --requirement requirements.txt)
  as_site env RELEASE="$release" DJANGO_STATIC_ROOT="$release/static" "$root/manage" collectstatic --noinput >/dev/null
  as_site find "$release/static" -type f \( -name '*.css' -o -name '*.js' -o -name '*.svg' -o -name '*.txt' -o -name '*.map' \) \
    -exec gzip --keep --force --best --no-name {} +
  echo "$COMMIT" | as_site tee "$release/REVISION" >/dev/null
fi

restart=false
if [ "$(readlink "$root/current" || true)" != "$release" ]; then
  sudo -u "$SERVICE_USER" env RELEASE="$release" "$root/manage" migrate --noinput >/dev/null
  as_site ln -sfn "$release" "$root/current.new"
  as_site mv -T "$root/current.new" "$root/current"
  restart=true
fi

if has socket || has service; then systemctl daemon-reload; fi
if ! systemctl is-enabled -q "$unit.socket" "$unit.service" 2>/dev/null; then
  systemctl enable -q "$unit.socket" "$unit.service"
fi
if has socket; then systemctl restart "$unit.socket"; restart=true; fi
if has service || has env || has manage; then restart=true; fi
if $restart; then
  systemctl restart "$unit.service"
elif ! systemctl is-active -q "$unit.socket" "$unit.service"; then
  systemctl start "$unit.socket" "$unit.service"
fi
if has nginx; then
  nginx -t -q
  systemctl reload-or-restart nginx
elif ! systemctl is-active -q nginx; then
  systemctl start nginx
fi

# Through nginx, by the site's domain, like the Ansible deploy's checks: the
# home page, then /health/ naming this commit.
python3 - <<'PY'
import http.client, os, socket, ssl, sys, time

domain, commit = os.environ["DOMAIN"], os.environ["COMMIT"]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE


def get(path):
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=10), server_hostname=domain)
    conn = http.client.HTTPSConnection(domain, 443, timeout=10)
    conn.sock = sock
    conn.request("GET", path, headers={"Host": domain})
    response = conn.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


deadline = time.monotonic() + 30
while True:
    try:
        home, health = get("/"), get("/health/")
        if home[0] == 200 and "To-Do" in home[1] and health[0] == 200 and commit in health[1]:
            break
        problem = f"/ -> {home[0]}, /health/ -> {health[0]} {health[1][:200]}"
    except OSError as exc:
        problem = repr(exc)
    if time.monotonic() > deadline:
        sys.exit(f"{domain} is not healthy on {commit[:12]}: {problem}")
    time.sleep(0.2)
PY
REMOTE
echo "floor: $commit deployed to $container (${build}${changed:+, changed:$changed})"
