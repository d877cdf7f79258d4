package producer

import (
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/wacard/wacard/internal/device"
)

// openAPISpec parses the embedded document.
func openAPISpec(t *testing.T) *node {
	t.Helper()
	b, err := web.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := parseNode(b)
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if v := spec.str("openapi"); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi.json: openapi = %q, want 3.x", v)
	}
	return spec
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRoutes walks the router: every route is in openapi.json
// and everything openapi.json describes is a route. A mounted handler
// (pattern ending in /*) is documented as <mount>/{path} with the methods it
// is used with.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	_, s := newServerHarness(t, nil)
	routes := map[string]bool{} // "GET /devices/{id}"
	mounts := map[string]bool{} // "GET /admin/queues/{path}"
	err := chi.Walk(s.mux.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if mount, ok := strings.CutSuffix(route, "/*"); ok {
			mounts[method+" "+mount+"/{path}"] = true
			return nil
		}
		routes[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 10 {
		t.Fatalf("walked only %d routes", len(routes))
	}
	documented := map[string]bool{}
	paths := openAPISpec(t).get("paths")
	for _, path := range paths.keys {
		for _, m := range paths.get(path).keys {
			if !contains(httpMethods, m) {
				continue
			}
			op := strings.ToUpper(m) + " " + path
			documented[op] = true
			if !routes[op] && !mounts[op] {
				t.Errorf("openapi.json describes %s, which is no route", op)
			}
		}
	}
	for _, op := range sortedKeys(routes) {
		if !documented[op] {
			t.Errorf("route %s is missing from openapi.json", op)
		}
	}
	seen := map[string]bool{}
	for op := range mounts {
		path := op[strings.Index(op, " ")+1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		found := false
		for d := range documented {
			found = found || strings.HasSuffix(d, " "+path)
		}
		if !found {
			t.Errorf("mounted handler %s is missing from openapi.json", path)
		}
	}
}

// TestOpenAPIConsistent checks what a reader of the document relies on:
// every $ref resolves, operation ids are unique, path parameters are declared
// and every operation has a summary and a success answer.
func TestOpenAPIConsistent(t *testing.T) {
	t.Parallel()
	spec := openAPISpec(t)
	var walk func(n *node, at string)
	walk = func(n *node, at string) {
		if ref := n.str("$ref"); ref != "" && spec.lookup(ref) == nil {
			t.Errorf("%s: $ref %s does not resolve", at, ref)
		}
		for _, k := range n.keys {
			walk(n.vals[k], at+"/"+k)
		}
		for _, v := range n.arr {
			walk(v, at+"[]")
		}
	}
	walk(spec, "#")
	ids := map[string]string{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	paths := spec.get("paths")
	for _, path := range paths.keys {
		for _, m := range paths.get(path).keys {
			op := paths.get(path).get(m)
			name := strings.ToUpper(m) + " " + path
			if id := op.str("operationId"); id == "" {
				t.Errorf("%s has no operationId", name)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s and %s share operationId %s", prev, name, id)
			} else {
				ids[id] = name
			}
			if op.str("summary") == "" {
				t.Errorf("%s has no summary", name)
			}
			if op.get("responses").get("200") == nil {
				t.Errorf("%s has no 200 answer", name)
			}
			declared := map[string]bool{}
			for _, p := range op.get("parameters").list() {
				if p = spec.resolve(p); p.str("in") == "path" {
					declared[p.str("name")] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s does not declare its path parameter %s", name, m[1])
				}
			}
		}
	}
}

// TestOpenAPIServed: /openapi.json is the embedded document and /docs shows
// every operation, without loading anything from elsewhere.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, device.Device{ID: "my-device", Kind: device.KindSandbox})
	resp, err := http.Get(h.srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := web.ReadFile("openapi.json")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || string(body) != string(want) {
		t.Errorf("GET /openapi.json: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}

	resp, err = http.Get(h.srv.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	html := string(page)
	paths := openAPISpec(t).get("paths")
	for _, path := range paths.keys {
		for _, m := range paths.get(path).keys {
			if !strings.Contains(html, `<span class="m `+m+`">`+strings.ToUpper(m)+`</span><span class="path">`+path+`</span>`) {
				t.Errorf("/docs does not show %s %s", strings.ToUpper(m), path)
			}
		}
	}
	for _, want := range []string{"contact_name", "X-Device-Id", "results.message_id", "no API key needed"} {
		if !strings.Contains(html, want) {
			t.Errorf("/docs lacks %q", want)
		}
	}
	for _, banned := range []string{"http://", "https://", "<script"} {
		if strings.Contains(html, banned) {
			t.Errorf("/docs holds %q: it must be self-contained", banned)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("/docs Content-Security-Policy = %q", csp)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
