package producer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wacard/wacard/internal/job"
	"github.com/wacard/wacard/internal/phone"
)

// Limits of POST /assignments besides the batch item limit (on leads).
const (
	maxReps   = 1000
	maxWeight = 1000
)

// rep is a sales rep whose card leads receive.
type rep struct {
	name   string
	phone  phone.Number
	weight int
}

// lead is a lead after validation.
type lead struct {
	to   string // recipient JID
	name string
}

// assignment is one lead's line of the answer to POST /assignments.
type assignment struct {
	LeadIndex      int    `json:"lead_index"`
	LeadPhone      string `json:"lead_phone"` // the recipient JID
	RepIndex       int    `json:"rep_index"`
	RepName        string `json:"rep_name"`
	IntroMessageID string `json:"intro_message_id,omitempty"`
	MessageID      string `json:"message_id"`
}

type assignResults struct {
	BatchID     string       `json:"batch_id"`
	DeviceID    string       `json:"device_id"`
	StatusURL   string       `json:"status_url"`
	Strategy    string       `json:"strategy"`
	Messages    int          `json:"messages"`
	Assignments []assignment `json:"assignments"`
}

// assignRequest is a validated POST /assignments body.
type assignRequest struct {
	leads       []lead
	reps        []rep
	strategy    string
	contactName template
	intro       *template
	isForwarded bool
	duration    uint32
}

// handleAssignments gives every lead the card of a sales rep, optionally
// after an intro text, as one all-or-nothing batch.
func (s *Server) handleAssignments(w http.ResponseWriter, r *http.Request) error {
	dev, err := s.resolveDevice(r)
	if err != nil {
		return err
	}
	f, err := readJSONObject(w, r, s.MaxBatchBody)
	if err != nil {
		return err
	}
	req, errs := parseAssignments(f, s.MaxBatchItems)
	idem, ierr := idempotencyKey(r)
	if ierr != nil {
		errs = append(errs, *ierr)
	}
	if len(errs) > 0 {
		return itemErrors(errs)
	}
	repOf := assignReps(len(req.leads), req.strategy, weightsOf(req.reps))
	payloads, errs := req.payloads(repOf)
	if len(errs) > 0 {
		return itemErrors(errs)
	}
	acc, err := s.Accepter.AcceptBatch(r.Context(), Batch{
		DeviceID: dev.ID,
		Kind:     "assignment",
		Payloads: payloads,
		Results: func(batchID string, ids []string) any {
			out := make([]assignment, len(req.leads))
			k := 0
			for i, l := range req.leads {
				a := assignment{LeadIndex: i, LeadPhone: l.to, RepIndex: repOf[i], RepName: req.reps[repOf[i]].name}
				if req.intro != nil {
					a.IntroMessageID = ids[k]
					k++
				}
				a.MessageID = ids[k]
				k++
				out[i] = a
			}
			return assignResults{BatchID: batchID, DeviceID: dev.ID, StatusURL: s.PublicURL + "/batches/" + batchID,
				Strategy: req.strategy, Messages: len(ids), Assignments: out}
		},
	}, idem)
	if err != nil {
		return batchAcceptError(acc, err)
	}
	s.writeBatchAccepted(w, dev.ID, len(payloads), acc, "Assignments queued for sending")
	return nil
}

// parseAssignments validates the body; lead errors name the lead, as in
// leads[3].phone, and carry its index.
func parseAssignments(f fields, maxLeads int) (assignRequest, []FieldError) {
	c := checker{f: f}
	var req assignRequest
	req.strategy = strategyRoundRobin
	if st, ok := c.str("strategy", false); ok {
		if st != strategyRoundRobin && st != strategyWeighted {
			c.fail("strategy", "must be round_robin or weighted")
		}
		req.strategy = st
	}
	req.contactName = template{parts: []templatePart{{ph: phRepName}}}
	if s, ok := c.str("contact_name", false); ok {
		if t, err := parseTemplate(s); err != nil {
			c.fail("contact_name", err.Error())
		} else {
			req.contactName = t
		}
	}
	if s, ok := c.str("intro", false); ok {
		if t, err := parseTemplate(s); err != nil {
			c.fail("intro", err.Error())
		} else if strings.TrimSpace(s) == "" {
			c.fail("intro", "cannot be blank; leave it out to send no intro")
		} else {
			req.intro = &t
		}
	}
	req.isForwarded = c.boolean("is_forwarded")
	req.duration = c.duration("duration")
	req.reps = parseReps(&c)
	errs := c.errs
	leads, lerrs := parseLeads(f, maxLeads)
	req.leads = leads
	return req, append(errs, lerrs...)
}

func parseReps(c *checker) []rep {
	raws, ok := objectArray(c, "reps", maxReps)
	if !ok {
		return nil
	}
	memo := newPhoneMemo()
	reps := make([]rep, len(raws))
	for i, raw := range raws {
		f, fe := decodeItem(raw)
		if fe != nil {
			c.fail(fmt.Sprintf("reps[%d]", i), "must be an object with name and phone")
			continue
		}
		sub := checker{f: f, memo: memo}
		reps[i] = rep{name: sub.name("name", true), phone: sub.fullContactPhone("phone"), weight: 1}
		// round_robin ignores weights, but a bad one is still reported.
		if sub.present("weight") {
			n, err := strconv.Atoi(string(bytes.TrimSpace(sub.f["weight"])))
			if err != nil || n < 1 || n > maxWeight {
				sub.fail("weight", fmt.Sprintf("must be a whole number from 1 to %d", maxWeight))
			}
			reps[i].weight = n
		}
		for _, e := range sub.errs {
			c.fail(fmt.Sprintf("reps[%d].%s", i, e.Field), e.Rule)
		}
	}
	return reps
}

// fullContactPhone is contactPhone (required) returning the whole number, for
// {{rep_phone}}.
func (c *checker) fullContactPhone(field string) phone.Number {
	s, ok := c.str(field, true)
	if !ok {
		return phone.Number{}
	}
	n, err := c.parser().contactPhone(s)
	if err != nil {
		c.fail(field, err.Error())
		return phone.Number{}
	}
	return n
}

// parseLeads validates the leads on all CPUs.
func parseLeads(f fields, max int) ([]lead, []FieldError) {
	c := checker{f: f}
	raws, ok := objectArray(&c, "leads", max)
	if !ok {
		return nil, c.errs
	}
	leads := make([]lead, len(raws))
	errs := make([][]FieldError, len(raws))
	parallel(len(raws), func(memo *phoneMemo, i int) {
		f, fe := decodeItem(raws[i])
		if fe != nil {
			errs[i] = leadErrors([]FieldError{{Rule: "must be an object with phone and an optional name"}}, i)
			return
		}
		sub := checker{f: f, memo: memo}
		leads[i] = lead{to: sub.recipient("phone"), name: sub.name("name", false)}
		errs[i] = leadErrors(sub.errs, i)
	})
	var out []FieldError
	for _, e := range errs {
		out = append(out, e...)
	}
	return leads, out
}

// leadErrors names errs after lead i: leads[3].phone.
func leadErrors(errs []FieldError, i int) []FieldError {
	for k := range errs {
		errs[k].Field = strings.TrimSuffix(fmt.Sprintf("leads[%d].%s", i, errs[k].Field), ".")
	}
	return locate(errs, i, 0)
}

// objectArray reads field as an array of 1 to max JSON values.
func objectArray(c *checker, field string, max int) ([]json.RawMessage, bool) {
	if !c.present(field) {
		c.fail(field, "is required")
		return nil, false
	}
	raws, err := rawArray(c.f[field], max)
	switch {
	case errors.Is(err, errTooMany):
		c.fail(field, fmt.Sprintf("must hold at most %d entries", max))
	case err != nil:
		c.fail(field, "must be an array of objects")
	case len(raws) == 0:
		c.fail(field, "must hold at least one entry")
	default:
		return raws, true
	}
	return nil, false
}

func weightsOf(reps []rep) []int {
	w := make([]int, len(reps))
	for i, r := range reps {
		w[i] = r.weight
	}
	return w
}

// payloads renders each lead's intro (if any) and card, in that order, and
// checks what the templates made of them.
func (req assignRequest) payloads(repOf []int) ([]job.Payload, []FieldError) {
	per := 1
	if req.intro != nil {
		per = 2
	}
	out := make([]job.Payload, 0, per*len(req.leads))
	var errs []FieldError
	needName := req.contactName.uses(phLeadName) || req.intro != nil && req.intro.uses(phLeadName)
	for i, l := range req.leads {
		rp := req.reps[repOf[i]]
		var le []FieldError
		if needName && l.name == "" {
			le = append(le, FieldError{Field: "name", Rule: "is required: a template uses {{lead_name}}"})
		}
		v := templateVals{repName: rp.name, repPhone: rp.phone.International, leadName: l.name}
		if req.intro != nil {
			text := req.intro.render(v)
			switch {
			case strings.TrimSpace(text) == "":
				le = append(le, FieldError{Field: "intro", Rule: "renders blank for this lead"})
			case utf8.RuneCountInString(text) > maxTextLen:
				le = append(le, FieldError{Field: "intro", Rule: fmt.Sprintf("renders longer than %d characters for this lead", maxTextLen)})
			}
			out = append(out, job.Payload{Kind: job.KindText, To: l.to, Text: text, IsForwarded: req.isForwarded, Duration: req.duration})
		}
		name := strings.TrimSpace(req.contactName.render(v))
		switch {
		case name == "":
			le = append(le, FieldError{Field: "contact_name", Rule: "renders blank for this lead"})
		case utf8.RuneCountInString(name) > maxNameLen:
			le = append(le, FieldError{Field: "contact_name", Rule: fmt.Sprintf("renders longer than %d characters for this lead", maxNameLen)})
		}
		out = append(out, job.Payload{Kind: job.KindContact, To: l.to, IsForwarded: req.isForwarded, Duration: req.duration,
			Contacts: []job.Contact{{Name: name, Phone: rp.phone.Digits}}})
		errs = append(errs, leadErrors(le, i)...)
	}
	return out, errs
}
