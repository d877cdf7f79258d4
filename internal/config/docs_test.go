package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryVariableIsDocumented keeps docs/configuration.md in step with the
// variables Load reads.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`"(WACARD_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(vars) < 20 {
		t.Fatalf("found only %d variables in config.go", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(string(doc), "`"+v[1]+"`") {
			t.Errorf("%s is read by config.go but not documented in docs/configuration.md", v[1])
		}
	}
}
