package msgid

import (
	"strings"
	"sync"
	"testing"
)

func TestNewFormat(t *testing.T) {
	t.Parallel()
	for range 1000 {
		id := New()
		if len(id) != 22 {
			t.Fatalf("New() = %q: %d characters, want 22", id, len(id))
		}
		if !strings.HasPrefix(id, "3EB0") {
			t.Fatalf("New() = %q: want prefix 3EB0", id)
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
				t.Fatalf("New() = %q: %q is not upper-case hex", id, c)
			}
		}
		if !Valid(id) {
			t.Fatalf("Valid(New()) = false for %q", id)
		}
	}
}

func TestNewUnique(t *testing.T) {
	t.Parallel()
	const workers, each = 10, 1000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], New())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, batch := range ids {
		for _, id := range batch {
			if seen[id] {
				t.Fatalf("duplicate id %q", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("%d unique ids, want %d", len(seen), workers*each)
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s  string
		ok bool
	}{
		{"3EB0C431C26A1916E7A0D8", true},
		{"3EB0" + strings.Repeat("0", 12), true},  // 16: shortest accepted
		{strings.Repeat("A", 64), true},           // longest accepted
		{"BAE5F2D1A3C4B5E6", true},                // other WhatsApp clients' ids
		{"3EB0c431c26a1916e7a0d8", false},         // lower case
		{"3eb0C431C26A1916E7A0D8", false},         // lower-case prefix
		{"3EB0" + strings.Repeat("0", 11), false}, // 15: too short
		{"", false},                                   // empty
		{strings.Repeat("A", 65), false},              // too long
		{"3EB0C431C26A1916E7A0DG", false},             // G is not hex
		{"3EB0C431C26A1916E7A0D-", false},             // punctuation
		{"3EB0C431C26A1916E7A0D ", false},             // space
		{"3EB0C431C26A1916E7A0D\n", false},            // newline
		{"../../3EB0C431C26A1916E7A0", false},         // path
		{"3EB0C431C26A1916E7A0D\u00c9", false},        // non-ASCII
		{"3EB0C431C26A1916E7A0D8" + "\x00", false},    // NUL
		{"3EB0C431C26A1916%2E%2EA0D8", false},         // escapes
		{strings.Repeat("F", 30) + "z", false},        // bad last byte
		{"Z" + strings.Repeat("F", 30), false},        // bad first byte
		{strings.Repeat("0123456789ABCDEF", 4), true}, // every hex digit
	}
	for _, tt := range tests {
		if got := Valid(tt.s); got != tt.ok {
			t.Errorf("Valid(%q) = %v, want %v", tt.s, got, tt.ok)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		_ = New()
	}
}

func BenchmarkValid(b *testing.B) {
	id := New()
	for b.Loop() {
		_ = Valid(id)
	}
}

func TestLenConstant(t *testing.T) {
	t.Parallel()
	if Len != 22 || len(Prefix) != 4 {
		t.Errorf("Len = %d, Prefix = %q; WhatsApp Web ids are 22 characters starting 3EB0", Len, Prefix)
	}
}
