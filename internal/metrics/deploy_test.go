package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/wacard/wacard/internal/metrics"
)

// The ops files under deploy/ name metrics by string; these tests hold them
// to what metrics.New really registers, so a renamed metric cannot leave a
// dashboard panel or an alert silently empty.

const repoRoot = "../.."

// exported describes the series names metrics.New exports.
type exported struct {
	series map[string]bool // every series name, with _bucket/_sum/_count of histograms and summaries
	wacard []string        // the wacard_ metric family names, sorted
}

// exportedMetrics lists every metric of metrics.New: the families Gather
// returns (the Go and process collectors, unlabelled metrics) plus every
// collector in a Metrics field, read from its Desc, since a vector without
// children is not gathered at all.
func exportedMetrics(t *testing.T) exported {
	t.Helper()
	m := metrics.New("test")
	e := exported{series: map[string]bool{}}
	add := func(name string, kind dto.MetricType) {
		e.series[name] = true
		switch kind {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			e.series[name+"_bucket"] = true
			fallthrough
		case dto.MetricType_SUMMARY:
			e.series[name+"_sum"] = true
			e.series[name+"_count"] = true
		}
		if strings.HasPrefix(name, "wacard_") && !slices.Contains(e.wacard, name) {
			e.wacard = append(e.wacard, name)
		}
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		add(f.GetName(), f.GetType())
	}

	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		field := v.Type().Field(i)
		if !field.IsExported() {
			continue
		}
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok {
			continue
		}
		var kind dto.MetricType
		switch c.(type) {
		case *prometheus.CounterVec, prometheus.Counter:
			kind = dto.MetricType_COUNTER
		case *prometheus.GaugeVec, prometheus.Gauge:
			kind = dto.MetricType_GAUGE
		case *prometheus.HistogramVec, prometheus.Histogram:
			kind = dto.MetricType_HISTOGRAM
		case *prometheus.SummaryVec, prometheus.Summary:
			kind = dto.MetricType_SUMMARY
		default:
			t.Fatalf("Metrics.%s: collector type %T unknown to this test", field.Name, c)
		}
		descs := make(chan *prometheus.Desc, 16)
		c.Describe(descs)
		close(descs)
		for d := range descs {
			name := fqName.FindStringSubmatch(d.String())
			if name == nil {
				t.Fatalf("Metrics.%s: no fqName in %s", field.Name, d)
			}
			add(name[1], kind)
		}
	}
	slices.Sort(e.wacard)
	if len(e.wacard) < 10 {
		t.Fatalf("found only %d wacard metrics: %v", len(e.wacard), e.wacard)
	}
	return e
}

// query is one PromQL expression of a deploy file and where it is.
type query struct {
	where string
	names []string
}

// dashboardQueries reads every panel query and variable query of a dashboard.
func dashboardQueries(t *testing.T, path string) []query {
	t.Helper()
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	readJSON(t, path, &dash)
	var qs []query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					qs = append(qs, query{"panel " + p.Title + " " + tg.RefID, metricNames(tg.Expr)})
				}
			}
			walk(p.Panels) // a collapsed row holds its panels
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is a string, or {"query": "..."} in newer Grafana.
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("%s: variable %s: query is neither a string nor an object: %s", path, v.Name, v.Query)
			}
			q = obj.Query
		}
		qs = append(qs, query{"variable $" + v.Name, grafanaQueryNames(q)})
	}
	return qs
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// ruleQueries reads every alerting and recording rule's expression.
func ruleQueries(t *testing.T, path string) []query {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, path, &rules)
	var qs []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"rule " + r.Alert + r.Record, metricNames(r.Expr)})
		}
	}
	return qs
}

// ruleTestSeries reads the input series of a promtool rule test file, whose
// names must be real too, or the test proves nothing about the real metrics.
func ruleTestSeries(t *testing.T, path string) []query {
	t.Helper()
	var tests struct {
		Tests []struct {
			Name        string                    `yaml:"name"`
			InputSeries []struct{ Series string } `yaml:"input_series"`
			PromQLTests []struct{ Expr string }   `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	readYAML(t, path, &tests)
	var qs []query
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			qs = append(qs, query{"test " + tc.Name + " series " + s.Series, metricNames(s.Series)})
		}
		for _, p := range tc.PromQLTests {
			qs = append(qs, query{"test " + tc.Name + " expr " + p.Expr, metricNames(p.Expr)})
		}
	}
	return qs
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkNames reports every name in qs that metrics.New does not export.
// `up` is Prometheus' own.
func checkNames(t *testing.T, file string, qs []query, e exported) {
	t.Helper()
	file = strings.TrimPrefix(filepath.ToSlash(file), repoRoot+"/")
	n := 0
	for _, q := range qs {
		for _, name := range q.names {
			n++
			if name != "up" && !e.series[name] {
				t.Errorf("%s: %s uses %s, which metrics.New does not export", file, q.where, name)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s: found no metric names in %d expressions; is the file empty or the scanner broken?", file, len(qs))
	}
}

func dashboards(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "deploy/grafana/dashboards/*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in deploy/grafana/dashboards (%v)", err)
	}
	return paths
}

func TestDeployFilesUseExportedMetrics(t *testing.T) {
	e := exportedMetrics(t)
	for _, path := range dashboards(t) {
		checkNames(t, path, dashboardQueries(t, path), e)
	}
	alerts := filepath.Join(repoRoot, "deploy/prometheus/alerts.yml")
	checkNames(t, alerts, ruleQueries(t, alerts), e)
	tests := filepath.Join(repoRoot, "deploy/prometheus/alerts_test.yml")
	checkNames(t, tests, ruleTestSeries(t, tests), e)
}

// baseName strips a histogram's series suffix, so wacard_x_bucket shows wacard_x.
func baseName(name string, e exported) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suffix); ok && e.series[b] && slices.Contains(e.wacard, b) {
			return b
		}
	}
	return name
}

func TestDashboardShowsEveryMetric(t *testing.T) {
	e := exportedMetrics(t)
	shown := map[string]bool{}
	for _, path := range dashboards(t) {
		for _, q := range dashboardQueries(t, path) {
			if strings.HasPrefix(q.where, "variable ") {
				continue // a variable only lists label values
			}
			for _, name := range q.names {
				shown[baseName(name, e)] = true
			}
		}
	}
	for _, name := range e.wacard {
		if !shown[name] {
			t.Errorf("%s is on no panel of deploy/grafana/dashboards: add one, so operators see it", name)
		}
	}
}

// docs/metrics.md is what operators read, and deploy/check.sh checks names
// against its own copy of the list: both must match the code.
func TestMetricsDocMatchesCode(t *testing.T) {
	e := exportedMetrics(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range e.wacard {
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("docs/metrics.md has no table row for %s", name)
		}
	}
	for _, name := range regexp.MustCompile(`\bwacard_[a-z0-9_]+`).FindAllString(doc, -1) {
		if !e.series[name] {
			t.Errorf("docs/metrics.md names %s, which metrics.New does not export", name)
		}
	}

	b, err = os.ReadFile(filepath.Join(repoRoot, "deploy/check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, name := range e.wacard {
		if !regexp.MustCompile(`(?m)^` + name + `$`).MatchString(script) {
			t.Errorf("deploy/check.sh does not list %s in COUNTERS_GAUGES or HISTOGRAMS", name)
		}
	}
}
