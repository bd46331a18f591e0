#!/bin/bash
# The container image's HEALTHCHECK (installed as /usr/local/libexec/berth/healthcheck): asks
# `berth run`'s listener for GET /healthz and succeeds on a 200. bash's /dev/tcp, so the image
# needs no HTTP client. The address is, in order:
#   BERTH_HEALTHCHECK_ADDR (HOST:PORT) when set;
#   else the --listen of the `berth run` process in the container (its /proc/PID/cmdline; an
#   unspecified address 0.0.0.0 or [::] is reached on the loopback), default 0.0.0.0:8080;
#   else, when no `berth run` runs here (a one-off `plan` or `apply`), there is nothing to check:
#   healthy.
# Exit status 0 healthy, 1 unhealthy (docker's convention); one line on stdout says why (docker
# keeps it in .State.Health.Log).
set -u

listen_of_berth_run() {
	local f args a i
	for f in /proc/[0-9]*/cmdline; do
		args=()
		mapfile -d '' -t args <"$f" 2>/dev/null || continue
		if [ ${#args[@]} -lt 2 ] || [ "${args[0]##*/}" != berth ] || [ "${args[1]}" != run ]; then
			continue
		fi
		a=0.0.0.0:8080
		for ((i = 2; i < ${#args[@]}; i++)); do
			case ${args[i]} in
			--listen=*) a=${args[i]#--listen=} ;;
			--listen) [ $((i + 1)) -lt ${#args[@]} ] && a=${args[i + 1]} ;;
			--) break ;;
			esac
		done
		echo "$a"
		return 0
	done
	return 1
}

addr=${BERTH_HEALTHCHECK_ADDR:-}
if [ -z "$addr" ]; then
	addr=$(listen_of_berth_run) || { echo "no berth run in this container: nothing to check"; exit 0; }
fi
host=${addr%:*} port=${addr##*:}
host=${host#[} host=${host%]}
case $host in
'' | 0.0.0.0 | '*') host=127.0.0.1 ;;
:: | ::0) host=::1 ;;
esac
case $port in
'' | *[!0-9]*) echo "unhealthy: cannot tell a port from '$addr'"; exit 1 ;;
esac

if ! exec 3<>"/dev/tcp/$host/$port"; then
	echo "unhealthy: nothing listens on $host:$port"
	exit 1
fi 2>/dev/null
printf 'GET /healthz HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$host" "$port" >&3
status=
IFS= read -r -t 4 status <&3 || true
exec 3<&-
status=${status%$'\r'}
read -r _ code _ <<<"$status"
if [ "$code" = 200 ]; then
	echo "healthy: GET http://$host:$port/healthz: $status"
	exit 0
fi
echo "unhealthy: GET http://$host:$port/healthz: ${status:-no answer}"
exit 1
