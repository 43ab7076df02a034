#!/usr/bin/env bash
# Usage: bench/floor-deploy.sh CONTAINER REPO COMMIT
#        bench/floor-deploy.sh --render FILE
#
# The floor the Ansible deploy is measured against (bench/README.md): what
# site.yml does to the systemd container CONTAINER for COMMIT of the git
# repository REPO (its app/ folder), as a careful plain shell script does it
# through `docker exec`: the roles' packages, users, directories, secret key,
# settings files, host hardening, nginx (certificate, server-wide settings,
# the site) and gunicorn units; a release beside the serving one (code,
# virtualenv, collectstatic, gzip copies of the text static files), migrate,
# the atomic switch of `current`; then the webserver role's site-check
# through nginx: the home page, and /health/ naming COMMIT. Only what
# changed: a rerun only checks; a new COMMIT builds, migrates, switches and
# restarts gunicorn.
#
# Its files are the roles' own templates, and its names the roles' settings,
# rendered by bench/floor-config.yml into FILE (--render: set-up, not part of
# a timed run); this script installs them with `put`.
#
# Left out on purpose (the Ansible deploy's safety net, invisible to a
# visitor): the settings checks, the deploy lock, `check --deploy`, `migrate
# --plan`, the database backup, the candidate check before the switch, the
# revert, the deploy log, release pruning, and the packages only Ansible
# needs on a server (python3-packaging, acl).
#
# Environment:
#   FLOOR_CONFIG     the file --render wrote (unset: one is rendered first)
#   FLOOR_DOMAIN     the site's domain, when rendering (default superlists-staging.localhost)
#   FLOOR_HARDENING  1 (default): also the host hardening site.yml does on a
#                    container (nftables, unattended-upgrades, sshd); 0: the site only
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)

render() {
  local out
  out=$(ANSIBLE_CONFIG="$repo_root/ansible.cfg" ANSIBLE_FILTER_PLUGINS="$repo_root/playbooks/filter_plugins" \
        "${SUPERLISTS_VENV:-$repo_root/.venv}/bin/ansible-playbook" -i localhost, "$repo_root/bench/floor-config.yml" \
        -e "floor_config=$(realpath -m "$1")" -e "floor_domain=${FLOOR_DOMAIN:-superlists-staging.localhost}" 2>&1) \
    || { printf '%s\nerror: rendering the floor files failed\n' "$out" >&2; exit 1; }
}

if [ "${1:-}" = --render ] && [ $# -eq 2 ]; then
  render "$2"
  exit 0
fi
[ $# -eq 3 ] || { sed -n '2,3p' "$0" >&2; exit 2; }
container=$1
repo=$2
commit=$(git -C "$repo" rev-parse --verify --quiet "$3^{commit}") || { echo "error: no commit $3 in $repo" >&2; exit 2; }
config=${FLOOR_CONFIG:-}
if [ -z "$config" ]; then
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  render "$config"
fi
# shellcheck source=/dev/null # rendered by bench/floor-config.yml
. "$config"

# remote [docker exec options] < script: run script as root in the container,
# after the rendered file (the site's names, put_rendered_files, site_check).
remote() {
  cat "$config" - | docker exec -i -e "COMMIT=$commit" -e "HARDENING=${FLOOR_HARDENING:-1}" "$@" "$container" \
    bash -euo pipefail -s
}

# 1. Packages, users, directories, settings, hardening, nginx and the units.
#    Prints "build" or "built", then the names of what changed.
state=$(remote <<'REMOTE'
export DEBIAN_FRONTEND=noninteractive
release=$SITE_ROOT/releases/$COMMIT
changed=""

# put PATH MODE OWNER:GROUP TAG < content: write the file only if it differs
# (the host hardening's files only with HARDENING=1).
put() {
  case $4 in firewall | upgrades | ssh) if [ "$HARDENING" != 1 ]; then cat >/dev/null; return; fi ;; esac
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if ! cmp -s "$tmp" "$1"; then
    install -m "$2" -o "${3%:*}" -g "${3#*:}" "$tmp" "$1"
    changed="$changed $4"
  fi
  rm -f "$tmp"
}

if [ "$HARDENING" = 1 ]; then PACKAGES="$PACKAGES $HARDENING_PACKAGES"; fi
read -ra packages <<<"$PACKAGES"
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
install -d -o "$SITE_USER" -g "$SITE_USER" -m 0755 "/home/$SITE_USER/sites" "$SITE_ROOT" "$SITE_ROOT/releases"
install -d -o "$SITE_USER" -g "$SERVICE_USER" -m 0750 "$SITE_ROOT/shared"
install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$DATA_DIR"

if [ ! -f "$SITE_ROOT/shared/secret.env" ]; then
  (umask 077 && python3 -c 'import secrets; print("DJANGO_SECRET_KEY=" + secrets.token_urlsafe(50))' \
    >"$SITE_ROOT/shared/secret.env.new")
  chown "$SITE_USER:$SERVICE_USER" "$SITE_ROOT/shared/secret.env.new"
  chmod 0640 "$SITE_ROOT/shared/secret.env.new"
  mv "$SITE_ROOT/shared/secret.env.new" "$SITE_ROOT/shared/secret.env"
fi

# The stock nginx site goes; TLS 1.2+ only and no version number in
# nginx.conf; a self-signed certificate, made once.
if [ -e /etc/nginx/sites-enabled/default ]; then
  rm -f /etc/nginx/sites-enabled/default
  changed="$changed nginx"
fi
put /etc/nginx/nginx.conf 0644 root:root nginx < <(
  sed -e 's/^\s*ssl_protocols\s.*/\tssl_protocols TLSv1.2 TLSv1.3;/' \
      -e 's/^\s*#\?\s*server_tokens\s.*/\tserver_tokens off;/' /etc/nginx/nginx.conf)
if [ ! -f "$TLS_CERT" ]; then
  install -d -m 0700 "$TLS_DIR"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days "$CERT_DAYS" -subj "/CN=$CERT_CN" \
    -addext "subjectAltName=DNS:$DOMAIN" -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null)
  changed="$changed nginx"
fi

# The settings files, manage, the hardening, the nginx files and the units.
put_rendered_files
if [[ " $changed " == *" firewall "* ]]; then systemctl enable -q nftables && systemctl restart nftables; fi
if [[ " $changed " == *" ssh "* ]]; then /usr/sbin/sshd -t && systemctl enable -q ssh && systemctl reload-or-restart ssh; fi

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
  git -C "$repo" -c tar.umask=0022 archive --format=tar "$commit:$APP_SUBDIR" \
    | docker exec -i -u "$SITE_USER" "$container" tar -x -C "$SITE_ROOT/releases/$commit"
fi

# 3. Build the release (site user), migrate (service user), switch, start or
#    restart what changed, and wait until the site is healthy on COMMIT.
remote -e "BUILD=$build" -e "CHANGED=$changed" <<'REMOTE'
release=$SITE_ROOT/releases/$COMMIT
has() { [[ " $CHANGED " == *" $1 "* ]]; }
as_site() { sudo -H -u "$SITE_USER" "$@"; }

if [ "$BUILD" = build ]; then
  as_site python3 -m venv "$release/.venv"
  # shellcheck disable=SC2086 # PIP_ENV: NAME=VALUE words
  (cd "$release" && as_site env $PIP_ENV .venv/bin/pip install --quiet --requirement requirements.txt)
  as_site env RELEASE="$release" DJANGO_STATIC_ROOT="$release/static" "$SITE_ROOT/manage" collectstatic --noinput >/dev/null
  as_site find "$release/static" -type f \( -name '*.css' -o -name '*.js' -o -name '*.svg' -o -name '*.txt' -o -name '*.map' \) \
    -exec gzip --keep --force --best --no-name {} +
  echo "$COMMIT" | as_site tee "$release/REVISION" >/dev/null
fi

restart=false
if [ "$(readlink "$SITE_ROOT/current" || true)" != "$release" ]; then
  sudo -u "$SERVICE_USER" env RELEASE="$release" "$SITE_ROOT/manage" migrate --noinput >/dev/null
  as_site ln -sfn "$release" "$SITE_ROOT/current.new"
  as_site mv -T "$SITE_ROOT/current.new" "$SITE_ROOT/current"
  restart=true
fi

if has socket || has service; then systemctl daemon-reload; fi
if ! systemctl is-enabled -q "$UNIT.socket" "$UNIT.service" 2>/dev/null; then
  systemctl enable -q "$UNIT.socket" "$UNIT.service"
fi
if has socket; then systemctl restart "$UNIT.socket"; restart=true; fi
if has service || has env || has manage; then restart=true; fi
if $restart; then
  systemctl restart "$UNIT.service"
elif ! systemctl is-active -q "$UNIT.socket" "$UNIT.service"; then
  systemctl start "$UNIT.socket" "$UNIT.service"
fi
if has nginx; then
  nginx -t -q
  systemctl reload-or-restart nginx
elif ! systemctl is-active -q nginx; then
  systemctl start nginx
fi

# Through nginx, by the site's domain: the home page, then /health/ naming
# this commit, for up to 30 s.
deadline=$((SECONDS + 30))
until problem=$(site_check "$DOMAIN" --port="$HTTPS_PORT" --https --revision="$COMMIT" 2>&1); do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "$DOMAIN is not healthy on ${COMMIT:0:12}: $problem" >&2
    exit 1
  fi
  sleep 0.2
done
REMOTE
echo "floor: $commit deployed to $container (${build}${changed:+, changed:$changed})"
