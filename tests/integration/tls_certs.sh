#!/usr/bin/env bash
# A throwaway certificate authority for the tests that talk to engines over TCP with TLS
# (workers_lib.sh's WORKERS_TLS=1 mode, worker_hook.sh).
#
#   tls_certs.sh ca DIR                  a new CA (DIR/ca.pem, DIR/ca-key.pem) and a client
#                                        certificate it signed (DIR/cert.pem, DIR/key.pem,
#                                        extendedKeyUsage clientAuth): what swarm.tls names
#   tls_certs.sh server DIR OUT IP NAME  a server certificate signed by DIR's CA for an engine at
#                                        IP whose name is NAME (OUT/server-cert.pem,
#                                        OUT/server-key.pem; subjectAltName IP:IP, DNS:NAME)
#
# EC P-256 keys (quick to make), valid two days; each certificate gets a random serial, so
# servers signed at once (workers created in parallel) share no serial file.
set -euo pipefail
action=$1 dir=$2

# sign CSR OUT EXT...: OUT, signed by DIR's CA with the extensions EXT (one per line).
sign() {
	local csr=$1 out=$2
	shift 2
	openssl x509 -req -in "$csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -days 2 \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-extfile <(printf '%s\n' "$@") -out "$out" 2>/dev/null
	rm -f "$csr"
}

# request KEY CSR CN: a new key and its signing request.
request() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1" -out "$2" \
		-subj "/CN=$3" 2>/dev/null
	chmod 600 "$1"
}

case $action in
ca)
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca-key.pem" \
		-out "$dir/ca.pem" -days 2 -subj "/CN=berth-test-ca-$(basename "$dir")" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	chmod 600 "$dir/ca-key.pem"
	request "$dir/key.pem" "$dir/client.csr" berth-test-client
	sign "$dir/client.csr" "$dir/cert.pem" extendedKeyUsage=clientAuth keyUsage=critical,digitalSignature
	;;
server)
	out=$3 ip=$4 name=$5
	mkdir -p "$out"
	request "$out/server-key.pem" "$out/server.csr" "$name"
	sign "$out/server.csr" "$out/server-cert.pem" extendedKeyUsage=serverAuth keyUsage=critical,digitalSignature \
		"subjectAltName=IP:$ip,DNS:$name"
	;;
*)
	echo "tls_certs.sh: unknown action $action" >&2
	exit 2
	;;
esac
