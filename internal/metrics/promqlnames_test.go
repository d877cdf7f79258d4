package metrics_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A small PromQL scanner, enough to list the metric names an expression
// selects. It is not a parser: promtool (deploy/check.sh) and the real
// Prometheus in cmd/wacard/prometheus_test.go check that the expressions
// parse; this only has to tell metric names from functions, keywords, label
// names, label values and Grafana variables.

// aggregations are PromQL's aggregation operators; they may be followed by
// `by (...)` rather than by a parenthesis, so they are known by name.
var aggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
	"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = set("by", "without", "on", "ignoring", "group_left", "group_right")

// keywords are the other words that are not metric names.
var keywords = set("bool", "and", "or", "unless", "atan2", "offset", "start", "end", "inf", "nan")

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

var nameMatcher = regexp.MustCompile(`__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)

// metricNames returns the sorted, distinct metric names expr selects.
func metricNames(expr string) []string {
	var names []string
	s := []rune(expr)
	skipSpace := func(i int) int {
		for i < len(s) && strings.ContainsRune(" \t\r\n", s[i]) {
			i++
		}
		return i
	}
	// skipString returns the index after the string literal starting at i.
	skipString := func(i int) int {
		q := s[i]
		for i++; i < len(s) && s[i] != q; i++ {
			if s[i] == '\\' && q != '`' {
				i++
			}
		}
		return i + 1
	}
	// skipTo returns the index after the first close outside strings from i.
	skipTo := func(i int, close rune) int {
		for i < len(s) && s[i] != close {
			if s[i] == '"' || s[i] == '\'' || s[i] == '`' {
				i = skipString(i)
				continue
			}
			i++
		}
		return i + 1
	}
	isIdentStart := func(r rune) bool { return r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isIdent := func(r rune) bool { return isIdentStart(r) || r >= '0' && r <= '9' }

	for i := 0; i < len(s); {
		switch r := s[i]; {
		case r == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case r == '"' || r == '\'' || r == '`':
			i = skipString(i)
		case r == '{': // label matchers: only __name__="x" names a metric
			end := min(skipTo(i+1, '}'), len(s))
			for _, m := range nameMatcher.FindAllStringSubmatch(string(s[i:end]), -1) {
				names = append(names, m[1])
			}
			i = end
		case r == '[': // a range or subquery: durations and Grafana variables
			i = skipTo(i+1, ']')
		case r == '$': // Grafana variable: $name or ${name...}
			i++
			if i < len(s) && s[i] == '{' {
				i = skipTo(i+1, '}')
				continue
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case r >= '0' && r <= '9' || r == '.': // a number or a duration
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(r):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := string(s[i:j])
			next := skipSpace(j)
			lower := strings.ToLower(word)
			switch {
			case labelListKeywords[lower]:
				if next < len(s) && s[next] == '(' {
					j = skipTo(next+1, ')')
				}
			case aggregations[lower] || keywords[lower]:
			case next < len(s) && s[next] == '(': // a function call
			default:
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// labelValuesQuery is Grafana's label_values(selector, label) variable query.
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// grafanaQueryNames returns the metric names of a Grafana Prometheus
// variable query: label_values(selector, label), label_values(label) or a
// PromQL expression.
func grafanaQueryNames(q string) []string {
	if m := labelValuesQuery.FindStringSubmatch(q); m != nil {
		return metricNames(m[1])
	}
	if strings.HasPrefix(strings.TrimSpace(q), "label_values(") {
		return nil // label_values(label): no selector
	}
	return metricNames(q)
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{`up`, "up"},
		{`wacard_build_info`, "wacard_build_info"},
		{`sum(rate(a_total{device=~"$device", state="pending"}[$__rate_interval]))`, "a_total"},
		{`sum by (device, le) (rate(h_bucket[5m])) > 60`, "h_bucket"},
		{`max without(instance) (g) / on (job, instance) group_left(device) b`, "b g"},
		{`histogram_quantile(0.95, sum by (le) (rate(h_bucket[1m])))`, "h_bucket"},
		{`a == 0 and on (job, instance, device) b == 1`, "a b"},
		{`(x or y * 0) unless z offset 5m`, "x y z"},
		{`count(max by (device) (g) > 0)`, "g"},
		{`{__name__="named_total", job="wacard_api"}`, "named_total"},
		{`topk(3, m) @ end()`, "m"},
		{`m[5m:1m] # wacard_in_a_comment`, "m"},
		{`sum BY (x) (m) > bool 1e-3`, "m"},
		{`label_replace(m, "dst", "$1", "src", "wacard_(.*)")`, "m"},
		{`sum(increase(m[${__range}]))`, "m"},
		{`1 + 2.5`, ""},
	} {
		got := strings.Join(metricNames(c.expr), " ")
		if got != c.want {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
	for _, c := range []struct{ query, want string }{
		{`label_values(wacard_device_held, device)`, "wacard_device_held"},
		{`label_values(wacard_queue_size{state="pending"}, device)`, "wacard_queue_size"},
		{`label_values(device)`, ""},
		{`max by (device) (g)`, "g"},
	} {
		got := strings.Join(grafanaQueryNames(c.query), " ")
		if got != c.want {
			t.Errorf("grafanaQueryNames(%q) = %q, want %q", c.query, got, c.want)
		}
	}
}
