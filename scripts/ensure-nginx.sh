#!/bin/sh
# Installs nginx with its Lua module when missing (Debian/Ubuntu, as root). Used by `npm run demo`,
# `npm test` and .ci/run, so both quick-start commands work on a fresh machine.
set -e
need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need="$need libnginx-mod-http-lua"
[ -d /usr/share/lua/5.1/resty/core ] || [ -f /usr/share/lua/5.1/resty/core.lua ] || need="$need lua-resty-core"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "zdd needs:$need (Debian packages). Install them as root, or run this as root on Debian/Ubuntu." >&2
  exit 1
fi
echo "installing:$need"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
