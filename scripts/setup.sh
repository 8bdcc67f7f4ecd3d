#!/bin/sh
# Makes a fresh checkout runnable: installs nginx with its Lua module and PostgreSQL when missing
# (Debian/Ubuntu, as root) and the npm dependencies when node_modules is missing or older than package-lock.json,
# then builds. `npm run demo`, `npm test` and `npm run bench` start with it.
set -e
cd "$(dirname "$0")/.."
need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need="$need libnginx-mod-http-lua"
[ -e /usr/share/lua/5.1/resty/core.lua ] || need="$need lua-resty-core"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
# the tests of coordinators sharing PostgreSQL start a server of their own (initdb in a temp directory)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need="$need postgresql"
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "zdd needs:$need (Debian packages). Install them, or run this as root on Debian/Ubuntu." >&2
    exit 1
  fi
  echo "setup: installing$need"
  case "$need" in *postgresql*)
    # the server's programs only: Debian would otherwise create and start a cluster on port 5432
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      mkdir -p /etc/postgresql-common
      echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
    fi ;;
  esac
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies (better-sqlite3 compiles from source: about two minutes)"
  npm install --no-audit --no-fund
fi
npm run --silent build
