package producer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wacard/wacard/internal/job"
)

func TestAssignRepsIsExactAndDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		strategy string
		weights  []int
		leads    int
		want     string // rep letters in lead order
	}{
		{"round robin", strategyRoundRobin, []int{1, 1, 1}, 7, "abcabca"},
		{"round robin ignores weights", strategyRoundRobin, []int{5, 1}, 5, "ababa"},
		{"one rep", strategyRoundRobin, []int{1}, 3, "aaa"},
		{"weighted 5 1 1 (nginx's example)", strategyWeighted, []int{5, 1, 1}, 14, "aabacaaaabacaa"},
		{"weighted 2 1", strategyWeighted, []int{2, 1}, 6, "abaaba"},
		{"weighted 3 2", strategyWeighted, []int{3, 2}, 10, "ababaababa"},
		{"weighted equal is round robin", strategyWeighted, []int{4, 4, 4}, 6, "abcabc"},
		{"weighted 1 3", strategyWeighted, []int{1, 3}, 8, "babbbabb"},
		{"fewer leads than reps", strategyWeighted, []int{1, 1, 1, 1}, 2, "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			for _, r := range assignReps(tt.leads, tt.strategy, tt.weights) {
				b.WriteByte(byte('a' + r))
			}
			if b.String() != tt.want {
				t.Fatalf("got %s, want %s", b.String(), tt.want)
			}
		})
	}
	// Over a full cycle every rep gets exactly its weight.
	weights := []int{7, 3, 1, 5}
	counts := make([]int, len(weights))
	for _, r := range assignReps(16*10, strategyWeighted, weights) {
		counts[r]++
	}
	if fmt.Sprint(counts) != "[70 30 10 50]" {
		t.Fatalf("shares %v", counts)
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	v := templateVals{repName: "Ann", repPhone: "+62 812-3456-7890", leadName: "Bob"}
	tests := []struct{ in, want, err string }{
		{"{{rep_name}} - Your Sales Rep", "Ann - Your Sales Rep", ""},
		{"Hi {{ lead_name }}, {{rep_name}} ({{rep_phone}}) will call you.", "Hi Bob, Ann (+62 812-3456-7890) will call you.", ""},
		{"no placeholders", "no placeholders", ""},
		{"", "", ""},
		{"single { brace } is text", "single { brace } is text", ""},
		{"{{rep_email}}", "", "unknown placeholder {{rep_email}}"},
		{"{{rep_name", "", "without a closing"},
		{"{{}}", "", "unknown placeholder {{}}"},
	}
	for _, tt := range tests {
		tpl, err := parseTemplate(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.err == "" && tpl.render(v) != tt.want:
			t.Errorf("%q renders %q, want %q", tt.in, tpl.render(v), tt.want)
		}
	}
}

func TestAssignments(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 0)
	body := `{
  "strategy": "weighted",
  "reps": [{"name":"Ann","phone":"6281234567890","weight":2},{"name":"Raj","phone":"6289876543210"}],
  "leads": [{"phone":"6289685024991","name":"Bob"},{"phone":"6289685024992","name":"Cy"},{"phone":"6289685024993","name":"Di"},{"phone":"6289685024994","name":"Ed"}],
  "contact_name": "{{rep_name}} - Your Sales Rep",
  "intro": "Hi {{lead_name}}, meet {{rep_name}}: {{rep_phone}}",
  "duration": 86400
}`
	r := h.do(http.MethodPost, "/assignments", ctJSON, body)
	if r.Status != 200 {
		t.Fatalf("%d %s %s", r.Status, r.Message, r.Results)
	}
	var res assignResults
	if err := json.Unmarshal(r.Results, &res); err != nil {
		t.Fatal(err)
	}
	if res.Messages != 8 || len(res.Assignments) != 4 || res.Strategy != "weighted" {
		t.Fatalf("%+v", res)
	}
	q := h.queued()
	var got []string
	for i, a := range res.Assignments {
		intro, card := q[a.IntroMessageID], q[a.MessageID]
		if a.LeadIndex != i || intro.Kind != job.KindText || card.Kind != job.KindContact || intro.To != card.To || card.To != a.LeadPhone {
			t.Fatalf("assignment %d: %+v\nintro %+v\ncard %+v", i, a, intro, card)
		}
		if card.Duration != 86400 || intro.Duration != 86400 || card.BatchID != res.BatchID {
			t.Fatalf("card %+v", card)
		}
		got = append(got, fmt.Sprintf("%s<-%d:%s|%s|%s|%s", a.LeadPhone[:13], a.RepIndex, a.RepName, intro.Text, card.Contacts[0].Name, card.Contacts[0].Phone))
	}
	want := []string{
		"6289685024991<-0:Ann|Hi Bob, meet Ann: +62 812-3456-7890|Ann - Your Sales Rep|6281234567890",
		"6289685024992<-1:Raj|Hi Cy, meet Raj: +62 898-7654-3210|Raj - Your Sales Rep|6289876543210",
		"6289685024993<-0:Ann|Hi Di, meet Ann: +62 812-3456-7890|Ann - Your Sales Rep|6281234567890",
		"6289685024994<-0:Ann|Hi Ed, meet Ann: +62 812-3456-7890|Ann - Your Sales Rep|6281234567890",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := h.batchView(res.StatusURL); v.Total != 8 || v.Kind != "assignment" {
		t.Fatalf("%+v", v)
	}

	// Without an intro, one card per lead; round robin by default.
	r = h.do(http.MethodPost, "/assignments", ctJSON, `{"reps":[{"name":"Ann","phone":"6281234567890"},{"name":"Raj","phone":"112"}],
  "leads":[{"phone":"6289685024991"},{"phone":"6289685024992"},{"phone":"6289685024993"}]}`)
	res = assignResults{}
	_ = json.Unmarshal(r.Results, &res)
	if r.Status != 200 || res.Messages != 3 || res.Assignments[2].RepIndex != 0 || res.Assignments[1].IntroMessageID != "" {
		t.Fatalf("%d %s %+v", r.Status, r.Message, res)
	}
	if c := h.queued()[res.Assignments[1].MessageID].Contacts[0]; c.Name != "Raj" || c.Phone != "112" {
		t.Fatalf("card %+v", c)
	}
}

func TestAssignmentsRejects(t *testing.T) {
	t.Parallel()
	h := newBatchHarness(t, 3)
	reps := `"reps":[{"name":"Ann","phone":"6281234567890"}]`
	leads := `"leads":[{"phone":"6289685024991","name":"Bob"}]`
	tests := []struct {
		name, body string
		fields     string // every error's field, in order
	}{
		{"unknown placeholder", `{` + reps + `,` + leads + `,"contact_name":"{{rep_mail}}"}`, "contact_name"},
		{"bad intro", `{` + reps + `,` + leads + `,"intro":"Hi {{name}}"}`, "intro"},
		{"blank intro", `{` + reps + `,` + leads + `,"intro":"  "}`, "intro"},
		{"bad strategy", `{` + reps + `,` + leads + `,"strategy":"random"}`, "strategy"},
		{"no reps", `{"reps":[],` + leads + `}`, "reps"},
		{"no leads", `{` + reps + `}`, "leads"},
		{"too many leads", `{` + reps + `,"leads":[{"phone":"1"},{"phone":"2"},{"phone":"3"},{"phone":"4"}]}`, "leads"},
		{"bad reps", `{"reps":[{"name":"","phone":"+62"},{"name":"B","phone":"112","weight":0},7],` + leads + `}`, "reps[0].name,reps[0].phone,reps[1].weight,reps[2]"},
		{"too many bad leads", `{` + reps + `,"leads":[{"phone":"6289685024991"},{"phone":"89685024992"},"x",{"name":"Z"}]}`, "leads"},
		{"bad lead phones", `{` + reps + `,"leads":[{"phone":"6289685024991"},{"phone":"89685024992"},"x"]}`, "leads[1].phone,leads[2]"},
		{"lead name needed", `{` + reps + `,"leads":[{"phone":"6289685024991","name":"A"},{"phone":"6289685024992"}],"intro":"Hi {{lead_name}}"}`, "leads[1].name"},
		{"name renders too long", `{"reps":[{"name":"` + strings.Repeat("A", 250) + `","phone":"6281234567890"}],` + leads + `,"contact_name":"{{rep_name}} - Your Sales Rep"}`, "leads[0].contact_name"},
		{"bad flags", `{` + reps + `,` + leads + `,"is_forwarded":1,"duration":-1}`, "is_forwarded,duration"},
	}
	for _, tt := range tests {
		r := h.do(http.MethodPost, "/assignments", ctJSON, tt.body)
		errs := fieldErrors(t, r)
		var got []string
		for _, e := range errs {
			got = append(got, e.Field)
		}
		if strings.Join(got, ",") != tt.fields {
			t.Fatalf("%s: fields %v, want %s (%+v)", tt.name, got, tt.fields, errs)
		}
		if strings.HasPrefix(tt.fields, "leads[") && (errs[0].Index == nil || !strings.HasPrefix(r.Message, tt.fields[:strings.Index(tt.fields, "]")+1])) {
			t.Fatalf("%s: lead error without its index: %+v %q", tt.name, errs[0], r.Message)
		}
	}
	h.assertNothingQueued()
}
