# Sourced by the ensure-*.sh scripts: run a command as root (directly, or through sudo) and
# install Debian packages quietly. Functions only; sourcing it changes nothing.

# as_root CMD...: run CMD as root; fails with a message when we are not root and have no sudo.
as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "not root and no sudo: cannot run $1 as root" >&2
    return 1
  fi
}

# apt_install WHO PACKAGE...: install PACKAGEs (no recommends); WHO prefixes the messages.
apt_install() {
  local who=$1
  shift
  if [[ "$(id -u)" -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    echo "$who: not root and no sudo; install the packages yourself: $*" >&2
    return 1
  fi
  echo "$who: installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "$@" >/dev/null
}
