package phone

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// fromDigits builds the number "+digits" stands for without
// phonenumbers.Parse, or returns nil. The input is digits only, so most of
// Parse's work (punctuation, extensions, "+" variants, regular expressions
// over the whole input) has nothing to do, yet it is most of the cost of a
// check (BenchmarkParseRecipient). Country calling codes are prefix-free
// (ITU-T E.164), so the first 1-3 digits that name one are the one.
//
// checkInternational trusts the result only when it is valid as it stands
// and Parse would not read a national prefix at the start of the national
// number (trunkPrefixAt); everything else takes the Parse path, which stays
// the reference (TestFastPathAgreesWithParse, FuzzFastPathAgreesWithParse).
func fromDigits(digits string) (num *phonenumbers.PhoneNumber, nsn string) {
	for n := 1; n <= 3 && n < len(digits); n++ {
		cc, err := strconv.Atoi(digits[:n])
		if err != nil || cc == 0 {
			return nil, ""
		}
		if phonenumbers.GetRegionCodeForCountryCode(cc) == phonenumbers.UNKNOWN_REGION {
			continue
		}
		nsn = digits[n:]
		if len(nsn) < 2 || len(nsn) > 17 {
			return nil, ""
		}
		v, err := strconv.ParseUint(nsn, 10, 64)
		if err != nil {
			return nil, ""
		}
		cc32 := int32(cc)
		num = &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &v}
		if nsn[0] == '0' {
			// As Parse records it: the zeros are part of the number.
			lead := true
			num.ItalianLeadingZero = &lead
			zeros := 1
			for zeros < len(nsn)-1 && nsn[zeros] == '0' {
				zeros++
			}
			if zeros != 1 {
				z := int32(zeros)
				num.NumberOfLeadingZeros = &z
			}
		}
		return num, nsn
	}
	return nil, ""
}

// trunkPrefixes maps a country calling code to the pattern Parse strips as a
// national prefix at the start of a national number, from the metadata of
// the code's main region (as Parse picks it).
var trunkPrefixes = sync.OnceValue(func() map[int32]*regexp.Regexp {
	out := map[int32]*regexp.Regexp{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	for _, md := range coll.GetMetadata() {
		cc := md.GetCountryCode()
		if md.GetId() != phonenumbers.GetRegionCodeForCountryCode(int(cc)) {
			continue // not the region Parse reads this calling code as
		}
		p := md.GetNationalPrefixForParsing()
		if p == "" {
			p = md.GetNationalPrefix()
		}
		if p == "" {
			continue
		}
		if re, err := regexp.Compile("^(?:" + p + ")"); err == nil {
			out[cc] = re
		}
	}
	return out
})

// trunkPrefixAt reports whether Parse may take the start of nsn for a
// national prefix in the number's region, and so may read the number
// differently from fromDigits. Unknown means yes.
func trunkPrefixAt(num *phonenumbers.PhoneNumber, nsn string) bool {
	prefixes := trunkPrefixes()
	if prefixes == nil {
		return true
	}
	re, ok := prefixes[num.GetCountryCode()]
	return ok && re.MatchString(nsn)
}
