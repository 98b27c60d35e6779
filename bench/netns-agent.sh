#!/bin/sh
# mpirun's rsh agent for bench/netns.py: "ssh HOST COMMAND" into a network-namespace host.
# mpirun calls it as: netns-agent.sh [ssh options] HOST COMMAND...
# NETNS_HOSTS="IP=NAMESPACE IP=NAMESPACE ..." (set by netns.py) maps HOST to its namespace; the
# command runs there under its own UTS namespace whose hostname is the namespace's name, so
# that every host looks like a separate node to OpenMPI (and to nntrain's node detection).
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
h=$1; shift
ns=
for pair in $NETNS_HOSTS; do
  [ "${pair%%=*}" = "$h" ] && ns=${pair#*=}
done
[ -n "$ns" ] || { echo "netns-agent: unknown host '$h' (NETNS_HOSTS='$NETNS_HOSTS')" >&2; exit 1; }
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $ns && $*"
