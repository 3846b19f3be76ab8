//go:build linux && cgo

package xl_test

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/internal/xlu"
	"github.com/xlpt/xlpt/xl"
)

// The differential test: on every spec of the corpus, xlpt's model of
// libxlutil (ParseSpecXL) must give what libxlutil 4.17 itself gives, and
// the strict ParseSpec must accept exactly the specs libxlutil reads as
// written.

type corpusEntry struct{ class, spec string }

func loadCorpus(t testing.TB) []corpusEntry {
	f, err := os.Open("testdata/specs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		class, spec, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("corpus line %q has no tab", line)
		}
		out = append(out, corpusEntry{class, spec})
	}
	return out
}

// generated crosses BDF forms, slot forms and option lists, so that every
// grammar path meets every other.
func generated() []string {
	bdfs := []string{"01:00.0", "0:1f.7", "0000:03:00.1", "ffff:ff:1f.*", "01:20.0", "01:00.8",
		"1: 2.0", "01:0x2.0", "-0:00.0", "100000001:00.0", "bdf=02:00.3", "name=nic"}
	slots := []string{"", "@1", "@7", "@1f", "@20", "@0", "@ 6", "@-1", "@x", "@06"}
	opts := []string{"", ",permissive=1", ",msitranslate=0,power_mgmt=1", ",seize=yes",
		",rdm_policy=relaxed", ",rdm_policy=RELAXED", ",rdm_policy=bogus", ",vslot=5", ",vslot=5x",
		",name=x", ",bdf=04:00.0", ",", ",unknown=1", ",permissive"}
	var out []string
	for _, b := range bdfs {
		for _, s := range slots {
			for _, o := range opts {
				out = append(out, b+s+o)
			}
		}
	}
	return out
}

// compare checks one spec against libxlutil and returns xlpt's verdict.
func compare(t testing.TB, spec string) (verdict string) {
	d, misreads, err := xl.ParseSpecXL(spec)
	var se *xl.SpecError
	if errors.As(err, &se) && se.Undefined {
		return "undef"
	}
	if err != nil && !errors.Is(err, xl.ErrMalformedSpec) {
		t.Errorf("%q: error %v is not a SpecError", spec, err)
	}
	want := xlu.ParseSpec(spec)
	switch {
	case want.RC != 0 && err == nil:
		t.Errorf("%q: libxlutil rejects it (rc %d, %q), xlpt's model accepts %+v", spec, want.RC, want.Message, d)
		return "?"
	case want.RC == 0 && err != nil:
		t.Errorf("%q: libxlutil accepts %+v, xlpt's model rejects: %v", spec, want.Dev, err)
		return "?"
	case want.RC == 0 && d != want.Dev:
		t.Errorf("%q: fields differ\n libxlutil %+v\n xlpt      %+v", spec, want.Dev, d)
		return "?"
	}
	strict, serr := xl.ParseSpec(spec)
	switch {
	case err != nil:
		if serr == nil {
			t.Errorf("%q: strict parser accepts what libxlutil rejects", spec)
		}
		return "bad"
	case len(misreads) > 0:
		if !errors.As(serr, &se) || se.XL == "" {
			t.Errorf("%q: misread %v but strict parser says %v", spec, misreads, serr)
		}
		return "misread"
	default:
		if serr != nil || strict != want.Dev {
			t.Errorf("%q: strict parser gives %+v, %v; libxlutil %+v", spec, strict, serr, want.Dev)
		}
		return "ok"
	}
}

func TestSpecMatchesLibxlutilCorpus(t *testing.T) {
	corpus := loadCorpus(t)
	counts := map[string]int{}
	for _, e := range corpus {
		got := compare(t, e.spec)
		if got != e.class {
			t.Errorf("%q: corpus says %s, xlpt classifies it %s", e.spec, e.class, got)
		}
		counts[got]++
	}
	for _, s := range generated() {
		counts[compare(t, s)]++
	}
	total := counts["ok"] + counts["bad"] + counts["misread"] + counts["undef"]
	t.Logf("differential test against libxlutil: %d specs: %v", total, counts)
	if total < 300 || counts["ok"] < 50 || counts["bad"] < 50 || counts["misread"] < 50 {
		t.Errorf("corpus too small or lopsided: %v", counts)
	}
}

// Each silent-misread class of the issue must be refused with a message
// that says what xl would have done.
func TestSpecMisreadMessages(t *testing.T) {
	for spec, want := range map[string]string{
		"01:00.0,permissive=true":           "read it as permissive=0",
		"01:00.0,permissive=1,permissive=0": "use the last one",
		"01:00.0,vslot=5junk":               `ignore "junk"`,
		"01:00.0@0":                         "let the device model choose",
		"1:100000002.0":                     "read it as 0x2",
		"bdf=01:00.0junk":                   `ignore "junk"`,
	} {
		_, err := xl.ParseSpec(spec)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "xl "+xl.ParserQuirksIn+" would silently") {
			t.Errorf("ParseSpec(%q) = %v; want a refusal mentioning %q", spec, err, want)
		}
	}
}

func TestParseBdfMatchesLibxlutil(t *testing.T) {
	for _, s := range []string{"01:00.0", "0000:01:00.0", "01:00.*", "ffff:ff:1f.7", "01:20.0", "1:0.0",
		"01:00.0@3", "0000:01:00.0,seize=1", "01:00.8", "x", ""} {
		b, all, err := xl.ParseBdf(s)
		want := xlu.ParseBdf(s)
		if err == nil {
			if want.RC != 0 {
				t.Errorf("%q: xlu rejects, xlpt accepts", s)
			}
			got := xl.DevicePci{PciBdf: b, VfuncMask: 1, RdmPolicy: xl.RdmPolicyInvalid}
			if all {
				got.VfuncMask = xl.FuncAll
			}
			if got != want.Dev {
				t.Errorf("%q: xlu %+v, xlpt %+v", s, want.Dev, got)
			}
		} else if want.RC == 0 && !strings.Contains(err.Error(), "xl "+xl.ParserQuirksIn+" would silently") {
			t.Errorf("%q: xlu accepts %+v, xlpt refuses without saying what xl does: %v", s, want.Dev, err)
		}
	}
}

func FuzzSpecMatchesLibxlutil(f *testing.F) {
	for _, e := range loadCorpus(f) {
		f.Add(e.spec)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if strings.IndexByte(spec, 0) >= 0 {
			return // C sees a shorter string
		}
		compare(t, spec)
		// Whatever the strict parser accepts must survive the formatter.
		if d, err := xl.ParseSpec(spec); err == nil && d.VfuncMask != 0 {
			back, err := xl.ParseSpec(d.Spec())
			if err != nil || back != d {
				t.Errorf("round trip %q -> %q -> %+v, %v; want %+v", spec, d.Spec(), back, err, d)
			}
		}
	})
}
