#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) and contrib (pg_trgm) are installed, so
# `make test` can start its throwaway cluster. Installs Debian's postgresql + postgresql-contrib
# when initdb can't be found; does nothing when it can. Works as root, or via sudo.
set -euo pipefail

find_initdb() {
  if [[ -n "${PG_BINDIR:-}" && -x "${PG_BINDIR}/initdb" ]]; then return 0; fi
  if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    return 0
  fi
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null 2>&1
}

has_contrib() {
  compgen -G "/usr/share/postgresql/*/extension/pg_trgm.control" >/dev/null \
    || { command -v pg_config >/dev/null 2>&1 \
         && [[ -f "$(pg_config --sharedir)/extension/pg_trgm.control" ]]; }
}

if find_initdb && has_contrib; then
  echo "ensure-postgres: PostgreSQL server binaries and pg_trgm are present"
  exit 0
fi

# shellcheck source=scripts/apt.sh
source "$(dirname "$0")/apt.sh"
apt_install ensure-postgres postgresql postgresql-contrib
# The package starts a system cluster we don't need; tests run their own throwaway cluster.
as_root sh -c 'command -v pg_ctlcluster >/dev/null && for c in /etc/postgresql/*/main; do
  [ -d "$c" ] || continue; v=$(basename "$(dirname "$c")"); pg_ctlcluster "$v" main stop || true;
done' >/dev/null 2>&1 || true

if find_initdb && has_contrib; then
  echo "ensure-postgres: installed ($(ls -d /usr/lib/postgresql/*/bin | tail -1))"
else
  echo "ensure-postgres: installation finished but initdb or pg_trgm is still missing" >&2
  exit 1
fi
