#!/usr/bin/env bash
# Runs ceph/s3-tests against a real S3 server twice, bare and through
# s3cache, with the same settings, and lists the tests whose outcome
# differs. Outside CI's time budget: a run of test_s3.py takes 15-20
# minutes a side on a 2-core machine.
#
# Usage: compat/run.sh [minio|versitygw] [pytest arguments...]
#   default backend: minio; default tests: s3tests/functional/test_s3.py
#
# Environment:
#   S3TESTS_DIR  a checkout of github.com/ceph/s3-tests (default: cloned
#                into $XDG_CACHE_HOME/s3cache/s3-tests at S3TESTS_COMMIT)
#   S3TESTS_COMMIT  the commit to clone (default below)
#   SIDES        "bare proxy" (default), or one of them
#   OUT          where results go (default: a new directory under /tmp)
#
# Needs: python3 with boto3, pytest, munch, isodate, pytz, pytest-timeout
# (Debian: python3-boto3 python3-pytest python3-munch python3-isodate
# python3-tz python3-pytest-timeout), and the backend's binary: minio or
# versitygw on PATH or in $GOPATH/bin (see the README's test command).
#
# All three users of s3-tests (main, alt, tenant) are the backend's root
# user, on both sides, so tests that need distinct users fail on both.
set -euo pipefail

cd "$(dirname "$0")/.."
root="$(pwd)"
backend="${1:-minio}"
shift || true
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	tests=(s3tests/functional/test_s3.py)
fi
sides="${SIDES:-bare proxy}"
out="${OUT:-$(mktemp -d /tmp/s3cache-compat.XXXXXX)}"
mkdir -p "$out"
commit="${S3TESTS_COMMIT:-8f0ae7b404a3a2fcf7038bf1e6bf29544fe9b6a3}"
access=compataccesskey
secret=compat-secret-key-0123456789
python=/usr/bin/python3
[ -x "$python" ] || python=python3

gobin="$(go env GOPATH | cut -d: -f1)/bin"
find_bin() { command -v "$1" 2>/dev/null || { [ -x "$gobin/$1" ] && echo "$gobin/$1"; } || true; }

if [ -z "${S3TESTS_DIR:-}" ]; then
	S3TESTS_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/s3cache/s3-tests"
	if [ ! -d "$S3TESTS_DIR/.git" ]; then
		git clone -q https://github.com/ceph/s3-tests "$S3TESTS_DIR"
		git -C "$S3TESTS_DIR" checkout -q "$commit"
	fi
fi
"$python" -c 'import boto3, pytest, munch, isodate, pytz, pytest_timeout' || {
	echo "compat: install python3-boto3 python3-pytest python3-munch python3-isodate python3-tz python3-pytest-timeout" >&2
	exit 1
}

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url: wait until it answers at all
	for _ in $(seq 1 300); do
		if curl -s -o /dev/null "$1"; then return 0; fi
		sleep 0.2
	done
	echo "compat: $1 did not answer" >&2
	return 1
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start_backend DIR: starts a fresh backend with data in DIR; sets $bport.
start_backend() {
	bport="$(free_port)"
	mkdir -p "$1"
	case "$backend" in
	minio)
		bin="$(find_bin minio)"
		[ -n "$bin" ] || { echo "compat: minio not found" >&2; exit 1; }
		MINIO_ROOT_USER=$access MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off \
			"$bin" server --quiet --address "127.0.0.1:$bport" --console-address "127.0.0.1:$(free_port)" "$1" \
			>"$out/$side-backend.log" 2>&1 &
		;;
	versitygw)
		bin="$(find_bin versitygw)"
		[ -n "$bin" ] || { echo "compat: versitygw not found" >&2; exit 1; }
		# The metadata directory must not share the data directory's path
		# as a prefix: versitygw compares them as strings.
		meta="$(dirname "$1")/meta-$(basename "$1")"
		mkdir -p "$meta"
		"$bin" --access $access --secret $secret --region us-east-1 --port "127.0.0.1:$bport" --quiet \
			posix --sidecar "$meta" "$1" >"$out/$side-backend.log" 2>&1 &
		;;
	*)
		echo "compat: unknown backend $backend (minio or versitygw)" >&2
		exit 2
		;;
	esac
	pids+=($!)
	wait_http "http://127.0.0.1:$bport/"
}

write_conf() { # port file
	cat >"$2" <<CONF
[DEFAULT]
host = 127.0.0.1
port = $1
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = compat-{random}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/

[s3 main]
display_name = main
user_id = $access
email = main@example.com
api_name = default
access_key = $access
secret_key = $secret

[s3 alt]
display_name = alt
user_id = $access
email = alt@example.com
access_key = $access
secret_key = $secret

[s3 tenant]
display_name = tenant
user_id = $access
email = tenant@example.com
tenant = testx
access_key = $access
secret_key = $secret

[iam]
display_name = iam
user_id = $access
email = iam@example.com
access_key = $access
secret_key = $secret

[iam root]
user_id = $access
email = root@example.com
access_key = $access
secret_key = $secret

[iam alt root]
user_id = $access
email = altroot@example.com
access_key = $access
secret_key = $secret
CONF
}

go build -o "$out/s3cache" ./cmd/s3cache
for side in $sides; do
	start_backend "$out/$side-data"
	port=$bport
	if [ "$side" = proxy ]; then
		port="$(free_port)"
		env -i PATH="$PATH" HOME="$HOME" S3_ENDPOINT="127.0.0.1:$bport" S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret \
			S3_USE_SSL=false S3_REGION=us-east-1 LISTEN_ADDR="127.0.0.1:$port" \
			"$out/s3cache" >"$out/proxy.log" 2>&1 &
		pids+=($!)
		wait_http "http://127.0.0.1:$port/-/healthz"
	fi
	write_conf "$port" "$out/$side.conf"
	echo "compat: $side ($backend) on port $port: ${tests[*]}"
	(cd "$S3TESTS_DIR" && S3TEST_CONF="$out/$side.conf" "$python" -m pytest -q -p no:cacheprovider \
		--timeout=300 --junitxml="$out/$side.xml" "${tests[@]}" >"$out/$side.out" 2>&1) || true
	tail -n 1 "$out/$side.out"
	cleanup
	pids=()
done

if [ -f "$out/bare.xml" ] && [ -f "$out/proxy.xml" ]; then
	"$python" "$root/compat/compare.py" "$out/bare.xml" "$out/proxy.xml" | tee "$out/compare.txt"
fi
echo "compat: results in $out"
