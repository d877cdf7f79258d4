package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"WACARD_API_KEYS": " 0123456789abcdef\tkey-of-sales-team:sales,support,\n0123456789ABCDEF:sales ",
		"WACARD_OPS_ADDR": "127.0.0.1:0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []APIKey{
		{Key: "0123456789abcdef"},
		{Key: "key-of-sales-team", Devices: []string{"sales", "support"}},
		{Key: "0123456789ABCDEF", Devices: []string{"sales"}},
	}
	if !reflect.DeepEqual(c.APIKeys, want) {
		t.Errorf("APIKeys = %#v, want %#v", c.APIKeys, want)
	}
	if c.OpsAddr != "127.0.0.1:0" {
		t.Errorf("OpsAddr = %q", c.OpsAddr)
	}
}

// TestAPIKeyErrorsHideKeys: a configuration error names the key by its
// position, never by its value, and a printed Config does not show keys.
func TestAPIKeyErrorsHideKeys(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{"WACARD_API_KEYS": "good-key-0123456789:sales secret12 good-key-0123456789"}))
	if err == nil {
		t.Fatal("Load accepted a short and a repeated key")
	}
	msg := err.Error()
	for _, want := range []string{"WACARD_API_KEYS: key 2 is 8 characters long", "WACARD_API_KEYS: key 3 repeats key 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "secret12") || strings.Contains(msg, "good-key") {
		t.Errorf("error reveals a key:\n%s", msg)
	}
	c, err := Load(env(map[string]string{"WACARD_API_KEYS": "very-secret-api-key:sales"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v %v", c, c); strings.Contains(s, "very-secret") {
		t.Errorf("a printed Config reveals the key: %s", s)
	}
}
