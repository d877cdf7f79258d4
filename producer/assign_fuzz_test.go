package producer

import (
	"strings"
	"testing"
)

// FuzzParseAssignments: any body either yields field errors that name a
// field and a rule, or an assignment whose every lead gets a card.
func FuzzParseAssignments(f *testing.F) {
	f.Add([]byte(`{"reps":[{"name":"Ana","phone":"6281234567890"}],"leads":[{"phone":"6289685024992","name":"Budi"}]}`))
	f.Add([]byte(`{"strategy":"weighted","reps":[{"name":"A","phone":"6281234567890","weight":3},{"name":"B","phone":"14155552671"}],` +
		`"leads":[{"phone":"6289685024992"},{"phone":"x@g.us"}],"contact_name":"{{rep_name}} for {{lead_name}}","intro":"Hi {{lead_name}}"}`))
	f.Add([]byte(`{"reps":[],"leads":[{}],"contact_name":"{{nope}}","duration":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fs, err := decodeObject(body)
		if err != nil {
			return
		}
		req, errs := parseAssignments(fs, 100)
		if len(errs) == 0 {
			if len(req.reps) == 0 || len(req.leads) == 0 {
				t.Fatalf("accepted an assignment without reps or leads: %s", body)
			}
			var out int
			payloads, perr := req.payloads(assignReps(len(req.leads), req.strategy, weightsOf(req.reps)))
			errs = perr
			out = len(payloads)
			if len(errs) == 0 && out < len(req.leads) {
				t.Fatalf("%d leads but %d messages", len(req.leads), out)
			}
		}
		for _, e := range errs {
			if e.Field == "" || e.Rule == "" {
				t.Fatalf("field error without field or rule: %+v", e)
			}
		}
	})
}

// FuzzParseTemplate: a template either fails with a reason or renders its
// literal text and placeholders back in order.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"{{rep_name}}", "Hi {{ lead_name }}, meet {{rep_name}} ({{rep_phone}})", "{{", "}}{{rep_name", "{{x}}", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := parseTemplate(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		out := tpl.render(templateVals{repName: "R", repPhone: "P", leadName: "L"})
		if !strings.Contains(s, "{{") && out != s {
			t.Fatalf("a template without placeholders rendered %q from %q", out, s)
		}
	})
}
