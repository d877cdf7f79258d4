package phone

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// agree checks that checkInternational (fast path first) and
// parseInternational (phonenumbers.Parse) give the same verdict, the same
// canonical digits and the same international form for digits.
func agree(t *testing.T, digits string) {
	t.Helper()
	c1, n1, e1 := checkInternational(digits)
	c2, n2, e2 := parseInternational(digits)
	if (e1 == nil) != (e2 == nil) || c1 != c2 {
		t.Fatalf("%s: fast path gives (%q, %v), Parse gives (%q, %v)", digits, c1, e1, c2, e2)
	}
	if e1 == nil {
		f1, f2 := phonenumbers.Format(n1, phonenumbers.INTERNATIONAL), phonenumbers.Format(n2, phonenumbers.INTERNATIONAL)
		if f1 != f2 {
			t.Fatalf("%s: fast path formats %q, Parse %q", digits, f1, f2)
		}
	}
}

// TestFastPathAgreesWithParse runs every region's example numbers of every
// type, each with random variations of its last digits, with a trunk prefix
// inserted after the country code, and shortened and lengthened, through both
// paths.
func TestFastPathAgreesWithParse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	checked, fast := 0, 0
	for region := range phonenumbers.GetSupportedRegions() {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			e164 := phonenumbers.Format(ex, phonenumbers.E164)[1:]
			cc := strconv.Itoa(int(ex.GetCountryCode()))
			ndd := phonenumbers.GetNddPrefixForRegion(region, true)
			variants := []string{e164, cc + ndd + e164[len(cc):], e164[:len(e164)-1], e164 + "5", cc + "0" + e164[len(cc):], cc + "1" + e164[len(cc):]}
			for range 15 {
				b := []byte(e164)
				for k := 0; k < 4 && len(b)-1-k > len(cc); k++ {
					b[len(b)-1-k] = byte('0' + rng.IntN(10))
				}
				variants = append(variants, string(b))
				if len(b) > len(cc)+3 {
					b[len(cc)] = byte('0' + rng.IntN(10))
					variants = append(variants, string(b))
				}
			}
			for _, d := range variants {
				if len(d) > maxDigits {
					continue
				}
				agree(t, d)
				checked++
				if f, nsn := fromDigits(d); f != nil && !trunkPrefixAt(f, nsn) && phonenumbers.IsValidNumber(f) {
					fast++
				}
			}
		}
	}
	// The fast path must actually serve most valid numbers, or it is dead code.
	if checked < 5000 || fast < checked/5 {
		t.Fatalf("checked %d numbers, fast path took %d", checked, fast)
	}
	t.Logf("checked %d numbers; the fast path answered %d", checked, fast)
}

// FuzzFastPathAgreesWithParse: for any digits, both paths agree.
func FuzzFastPathAgreesWithParse(f *testing.F) {
	for _, s := range []string{"6289685024992", "5215512345678", "556191674812", "78001234567", "390212345678", "4402012345678", "12025550123", "80012345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !allDigits(s) || len(s) < 7 || len(s) > maxDigits {
			return
		}
		agree(t, s)
	})
}
