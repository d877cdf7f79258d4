package webhook

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []Endpoint
		wantErr string // part of the error; "" = valid
	}{
		{"", nil, ""},
		{"  \n\t ", nil, ""},
		{"https://a.example/hook", []Endpoint{{URL: "https://a.example/hook"}}, ""},
		{"https://a.example/hook http://b.example:8080/x?k=v|message.failed,batch.completed", []Endpoint{
			{URL: "https://a.example/hook"},
			{URL: "http://b.example:8080/x?k=v", Events: []string{"message.failed", "batch.completed"}},
		}, ""},
		{"https://a.example/h|message.sent,message.read,https://b.example/h,HTTPS://c.example/h", []Endpoint{
			{URL: "https://a.example/h", Events: []string{"message.sent", "message.read"}},
			{URL: "https://b.example/h"},
			{URL: "HTTPS://c.example/h"},
		}, ""},
		{",https://a.example/h, https://b.example/h|message.sent,", []Endpoint{
			{URL: "https://a.example/h"},
			{URL: "https://b.example/h", Events: []string{"message.sent"}},
		}, ""},
		{"https://a.example/h?list=1,2", []Endpoint{{URL: "https://a.example/h?list=1,2"}}, ""},
		{"https://a.example/h|message.sent,message.sent", []Endpoint{{URL: "https://a.example/h", Events: []string{"message.sent"}}}, ""},
		{"a.example/hook", nil, "http:// or https://"},
		{"ftp://a.example/hook", nil, "http:// or https://"},
		{"https://", nil, "no host"},
		{"https://:443/x", nil, "no host"},
		{"https://a.example/h#top", nil, "fragment"},
		{"https://a.example/%zz", nil, "not a URL"},
		{"https://a.example/h|", nil, `unknown event ""`},
		{"https://a.example/h|message.*", nil, `unknown event "message.*"`},
		{"https://a.example/h|sent", nil, "known: message.sent"},
		{"https://a.example/h https://a.example/h", nil, "listed twice"},
		{"https://user:secret@a.example/h|nope", nil, "user:xxxxx@"},
	}
	for _, tt := range tests {
		got, err := ParseEndpoints(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseEndpoints(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret@") {
				t.Errorf("ParseEndpoints(%q) error shows the password: %v", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseEndpoints(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestEndpointWants(t *testing.T) {
	t.Parallel()
	all := Endpoint{URL: "https://a.example"}
	some := Endpoint{URL: "https://a.example", Events: []string{"message.failed"}}
	for _, ev := range Events {
		if !all.Wants(ev) {
			t.Errorf("an endpoint without a filter does not want %s", ev)
		}
		if some.Wants(ev) != (ev == "message.failed") {
			t.Errorf("filtered endpoint: Wants(%s) = %v", ev, some.Wants(ev))
		}
	}
}

// FuzzParseEndpoints: any input either fails or parses into endpoints whose
// String form parses back to the same endpoints.
func FuzzParseEndpoints(f *testing.F) {
	f.Add("https://a.example/hook http://b.example|message.failed,batch.completed")
	f.Add("https://a.example/h|message.sent,https://b.example/h")
	f.Add("http://x|,|,")
	f.Fuzz(func(t *testing.T, in string) {
		eps, err := ParseEndpoints(in)
		if err != nil {
			return
		}
		var parts []string
		for _, e := range eps {
			if strings.Contains(e.URL, "@") {
				return // String hides passwords: not a round trip
			}
			parts = append(parts, e.String())
		}
		again, err := ParseEndpoints(strings.Join(parts, " "))
		if err != nil || !reflect.DeepEqual(again, eps) {
			t.Fatalf("%q parsed to %+v, which prints as %q and parses to %+v, %v", in, eps, parts, again, err)
		}
	})
}
