#!/usr/bin/env bash
# The dits program of a story run against a fleet server (DITS_TEST_FLEET=1,
# see tests/fleet/fleet.sh): `dits serve ARGS` becomes
#   dits serve ARGS --db DITS_FLEET_DB --store DITS_FLEET_STORE
# (a server whose repository list, configs, refs, variants and jobs are in
# PostgreSQL and whose packs are in S3, docs/SERVER.md "A fleet"), unless
# ARGS already name a --store or --db; every other command runs as is.
# exec keeps the process id, so a story that kills its server (kill -9)
# kills the server itself.
if [ "${1:-}" = serve ]; then
	case " $* " in
	*" --store "* | *" --db "* | *" --store="* | *" --db="*) ;;
	*) exec "$DITS_FLEET_REAL" "$@" --db "$DITS_FLEET_DB" --store "$DITS_FLEET_STORE" ;;
	esac
fi
exec "$DITS_FLEET_REAL" "$@"
