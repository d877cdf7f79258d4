#!/usr/bin/env bash
# Checks the ops files under deploy/ and exits non-zero if any check fails:
#
#   1. promtool check config deploy/prometheus/prometheus.yml
#   2. promtool check rules  deploy/prometheus/alerts.yml
#   3. promtool test rules   deploy/prometheus/alerts_test.yml
#   4. deploy/grafana/dashboards/*.json: valid JSON, unique panel ids, every
#      query parses as PromQL (through promtool) and names only wacard metrics
#      from docs/metrics.md (or `up`); the same name check for alerts.yml; every
#      alert's runbook_url anchor exists in docs/metrics.md
#   5. docker compose config (only if a compose CLI is installed; skipped otherwise)
#
# The Go tests in internal/metrics hold the metric list below, the dashboard
# and the alerts to what the code registers; cmd/wacard/prometheus_test.go runs
# the rules and the dashboard queries on a real Prometheus (the server binary
# of the same Debian package).
#
# promtool comes from Debian's `prometheus` package; if it is missing the script
# installs it (needs root or sudo). The install is run under a policy-rc.d that
# forbids starting services, so it leaves no Prometheus server listening on
# :9090; if one was started all the same it is stopped again.
#
# Usage: deploy/check.sh   (from anywhere; it works from the repository root)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

failures=0
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }

# The metric names wacard exports (docs/metrics.md). Histograms also expose
# _bucket, _sum and _count series.
COUNTERS_GAUGES="
wacard_http_requests_total
wacard_messages_accepted_total
wacard_messages_sent_total
wacard_messages_failed_total
wacard_messages_retried_total
wacard_messages_cancelled_total
wacard_device_connected
wacard_device_owned
wacard_device_paused
wacard_devices_registered
wacard_device_held
wacard_lease_takeovers_total
wacard_queue_size
wacard_queue_oldest_pending_age_seconds
wacard_webhook_deliveries_total
wacard_build_info
"
HISTOGRAMS="
wacard_http_request_duration_seconds
wacard_send_duration_seconds
wacard_message_queue_latency_seconds
"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
		echo "need root (or sudo) to run: $*" >&2
		return 1
	fi
}

prometheus_pids() { pgrep -x prometheus 2>/dev/null | sort || true; }

install_promtool() {
	step "promtool not found: installing Debian's prometheus package"
	local before after new policy_added=0
	before=$(prometheus_pids)
	# Keep the package's maintainer scripts from starting prometheus.service.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d' && policy_added=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	local rc=$?
	if [ "$policy_added" -eq 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
	# Stop a server the install started anyway (e.g. a host without policy-rc.d support).
	after=$(prometheus_pids)
	new=$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep -v '^$' || true)
	if [ -n "$new" ]; then
		echo "the install started prometheus (pid $new); stopping it"
		as_root service prometheus stop >/dev/null 2>&1 || true
		for pid in $new; do as_root kill "$pid" 2>/dev/null || true; done
	fi
	# A failing service start can fail the install after promtool is unpacked.
	if [ "$rc" -ne 0 ] && command -v promtool >/dev/null 2>&1; then
		echo "warning: apt-get exited $rc, but promtool is installed; going on" >&2
		rc=0
	fi
	return $rc
}

if ! command -v promtool >/dev/null 2>&1; then
	install_promtool || { fail "installing prometheus (promtool) failed"; exit 1; }
fi
promtool --version 2>&1 | head -n 1

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml || fail "promtool check config"

step "promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules"

step "promtool test rules deploy/prometheus/alerts_test.yml"
promtool test rules deploy/prometheus/alerts_test.yml || fail "promtool test rules"

# ---------------------------------------------------------------- metric names
known_metric() {
	local name=$1 h
	grep -qx -- "$name" <<<"$COUNTERS_GAUGES" && return 0
	for h in $HISTOGRAMS; do
		case "$name" in "$h" | "${h}_bucket" | "${h}_sum" | "${h}_count") return 0 ;; esac
	done
	return 1
}

# check_names FILE LABEL: every wacard_* name in the expressions on stdin is known.
check_names() {
	local label=$1 bad=0 name
	while read -r name; do
		[ -z "$name" ] && continue
		if ! known_metric "$name"; then
			fail "$label uses unknown metric $name"
			bad=1
		fi
	done < <(grep -oE '\bwacard_[a-zA-Z0-9_:]+' | sort -u)
	return $bad
}

if ! command -v jq >/dev/null 2>&1; then
	step "jq not found: installing Debian's jq package"
	{ as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null; } || fail "installing jq failed"
fi

step "metric names in deploy/prometheus/alerts.yml"
# The expressions are block scalars under `expr: |`; promtool has parsed the
# file already, so a plain text scan for wacard_* names is enough here.
if grep -vE '^\s*#' deploy/prometheus/alerts.yml | sed -n '/expr:/,/for:\|labels:/p' | check_names alerts.yml; then
	echo "ok"
fi

step "runbook anchors of deploy/prometheus/alerts.yml in docs/metrics.md"
anchors_ok=1
while read -r anchor; do
	if ! grep -qE "(id=\"$anchor\"|^#+ +$anchor\$)" docs/metrics.md 2>/dev/null &&
		! grep -qiE "^#+ +${anchor}\$" docs/metrics.md 2>/dev/null; then
		fail "runbook anchor #$anchor not found in docs/metrics.md"
		anchors_ok=0
	fi
done < <(grep -oE 'runbook_url: *"docs/metrics\.md#[^"]+"' deploy/prometheus/alerts.yml | sed 's/.*#//; s/"$//')
[ "$anchors_ok" -eq 1 ] && echo "ok"

step "Grafana dashboards in deploy/grafana/dashboards"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for dash in deploy/grafana/dashboards/*.json; do
	echo "$dash"
	if ! jq -e . "$dash" >/dev/null; then
		fail "$dash is not valid JSON"
		continue
	fi
	dups=$(jq -r '[.panels[].id] | group_by(.) | map(select(length > 1) | .[0]) | .[]' "$dash")
	[ -n "$dups" ] && fail "$dash has duplicate panel ids: $dups"
	empty=$(jq -r '.panels[] | select(.type != "row") | select((.targets // []) | length == 0) | .title' "$dash")
	[ -n "$empty" ] && fail "$dash has panels without queries: $empty"
	jq -e '.templating.list[] | select(.name == "device")' "$dash" >/dev/null || fail "$dash has no \$device variable"

	# Every query, with Grafana's variables replaced, must parse as PromQL:
	# promtool parses them as recording rules of a throwaway rule file.
	jq -r '.panels[] | select(.type != "row") | .targets[]?.expr' "$dash" >"$tmp/exprs.txt"
	jq -r '.templating.list[] | select(.type == "query") | (.query.query // .query)' "$dash" |
		sed -E 's/^label_values\((.*), *[a-zA-Z_]+\)$/\1/' >>"$tmp/exprs.txt"
	{
		echo "groups:"
		echo "  - name: dashboard-queries"
		echo "    rules:"
		n=0
		while IFS= read -r expr; do
			n=$((n + 1))
			expr=${expr//\$__rate_interval/1m}
			expr=${expr//\$__range/1h}
			expr=${expr//\$__interval/1m}
			expr=${expr//\$device/.*}
			printf '      - record: dashboard_query_%d\n        expr: %s\n' "$n" "$(jq -Rn --arg e "$expr" '$e')"
		done <"$tmp/exprs.txt"
	} >"$tmp/dashboard_rules.yml"
	if promtool check rules "$tmp/dashboard_rules.yml" >"$tmp/out.txt" 2>&1; then
		echo "  $(wc -l <"$tmp/exprs.txt") queries parse as PromQL"
	else
		cat "$tmp/out.txt" >&2
		fail "$dash has queries that do not parse as PromQL"
	fi
	check_names "$dash" <"$tmp/exprs.txt" && echo "  metric names ok"
done

# ---------------------------------------------------------------- compose
step "docker compose config"
if docker compose version >/dev/null 2>&1; then
	docker compose -f docker-compose.yml config -q && echo "ok (docker compose)" || fail "docker compose config"
elif command -v docker-compose >/dev/null 2>&1; then
	docker-compose -f docker-compose.yml config -q && echo "ok (docker-compose)" || fail "docker-compose config"
else
	echo "skipped: no docker compose plugin or docker-compose installed (apt-get install docker-compose)"
fi

echo
if [ "$failures" -gt 0 ]; then
	echo "deploy/check.sh: $failures check(s) failed"
	exit 1
fi
echo "deploy/check.sh: all checks passed"
