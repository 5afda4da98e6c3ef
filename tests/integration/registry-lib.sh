# A private OCI registry (Debian's docker-registry, the distribution registry) on 127.0.0.1,
# for tests that pull or push images and snapshot streams. Source after lib.sh.
#   start_registry    starts it with its storage under $T/registry; sets $REGISTRY
#                     (host:port) and $rpid; stopped and removed when the test exits
#   push_oci DIR REF  copies the OCI layout DIR to $REGISTRY/REF with skopeo (plain HTTP)
command -v docker-registry > /dev/null || skip "no docker-registry"

start_registry() {
	local port try
	mkdir -p "$T/registry/data"
	for try in 1 2 3 4 5; do
		port=$((20000 + (RANDOM % 20000)))
		cat > "$T/registry/config.yml" <<- EOC
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $T/registry/data
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$port
		EOC
		docker-registry serve "$T/registry/config.yml" > "$T/registry/log" 2>&1 &
		rpid=$!
		for _ in $(seq 1 100); do
			if curl -fsS "http://127.0.0.1:$port/v2/" > /dev/null 2>&1; then
				at_exit "kill -KILL $rpid; wait $rpid"
				REGISTRY=127.0.0.1:$port
				return 0
			fi
			kill -0 "$rpid" 2> /dev/null || break
			sleep 0.1
		done
		kill -KILL "$rpid" 2> /dev/null || true
		wait "$rpid" 2> /dev/null || true
	done
	tail -n 20 "$T/registry/log" >&2
	fail "docker-registry did not start (try $try)"
}

push_oci() {
	command -v skopeo > /dev/null || skip "no skopeo"
	skopeo copy --quiet --dest-tls-verify=false "oci:$1" "docker://$REGISTRY/$2" ||
		fail "skopeo copy $1 to $REGISTRY/$2"
}
