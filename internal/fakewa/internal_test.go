package fakewa

import (
	"bytes"
	"testing"
)

func TestUnpad(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		version int
		want    []byte
		wantErr bool
	}{
		{"one byte", []byte{'a', 1}, 2, []byte("a"), false},
		{"fifteen bytes", append([]byte("ab"), bytes.Repeat([]byte{15}, 15)...), 2, []byte("ab"), false},
		{"whole payload is padding", []byte{2, 2}, 2, []byte{}, false},
		{"version 3 is unpadded", []byte{'a', 1}, 3, []byte{'a', 1}, false},
		{"empty", nil, 2, nil, true},
		{"zero length", []byte{'a', 0}, 2, nil, true},
		{"longer than payload", []byte{'a', 5}, 2, nil, true},
		{"inconsistent", []byte{'a', 1, 2}, 2, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unpad(tt.in, tt.version)
			if (err != nil) != tt.wantErr || !bytes.Equal(got, tt.want) {
				t.Errorf("unpad(%v, %d) = %v, %v; want %v, error %v", tt.in, tt.version, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzUnpad(f *testing.F) {
	f.Add([]byte{'a', 1}, 2)
	f.Add([]byte{3, 3, 3}, 2)
	f.Fuzz(func(t *testing.T, in []byte, version int) {
		out, err := unpad(in, version)
		if err == nil && version != 3 && len(out) >= len(in) {
			t.Errorf("unpad(%v) removed nothing", in)
		}
	})
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"15550001111", "15550001111", false},
		{"+1 555-000 1111", "15550001111", false},
		{"1555", "", true},
		{"15550001111@s.whatsapp.net", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := normalizePhone(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalizePhone(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
