package rdm

import (
	"bufio"
	"fmt"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xlpt/xlpt/xl"
)

func TestParseRdm(t *testing.T) {
	host, ign := xl.RdmStrategyHost, xl.RdmStrategyIgnore
	strict, relaxed, inval := xl.RdmPolicyStrict, xl.RdmPolicyRelaxed, xl.RdmPolicyInvalid
	ok := []struct {
		in        string
		strategy  xl.RdmStrategy
		policy    xl.RdmPolicy
		effective xl.RdmPolicy
	}{
		{"strategy=host", host, inval, relaxed},
		{"strategy=host,policy=strict", host, strict, strict},
		{"strategy=host,policy=relaxed", host, relaxed, relaxed},
		{"policy=relaxed,strategy=host", host, relaxed, relaxed},
		{"policy=STRICT", ign, strict, strict},
		{"strategy=ignore", ign, inval, relaxed},
		{"strategy=ignore,policy=Relaxed", ign, relaxed, relaxed},
	}
	for _, c := range ok {
		s, err := ParseRdm(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if s.Reserve.Strategy != c.strategy || s.Reserve.Policy != c.policy || s.EffectivePolicy() != c.effective {
			t.Errorf("%q: got %+v (effective %v)", c.in, s, s.EffectivePolicy())
		}
		// String round-trips.
		again, err := ParseRdm(s.String())
		if err != nil || again != s {
			t.Errorf("%q: String() %q reparses as %+v %v", c.in, s.String(), again, err)
		}
	}
	bad := []string{
		"", ",", "strategy=host,", ",strategy=host", "strategy", "strategy=", "strategy=Host",
		"strategy=guest", "policy=invalid", "policy=lax", "strategy=host,strategy=host",
		"policy=strict,policy=relaxed", "stratgy=host", " strategy=host", "strategy=host ",
		"strategy = host", "strategy=host;policy=strict", "strategy=host,,policy=strict",
	}
	for _, in := range bad {
		if s, err := ParseRdm(in); err == nil {
			t.Errorf("%q accepted as %+v", in, s)
		}
	}
}

// TestXl417RdmCases pins the behaviour read from libxlu_pci.c and
// xl_parse.c, one case per branch.
func TestXl417RdmCases(t *testing.T) {
	cases := []struct {
		in             string
		rc             int
		applied        bool
		strategyUninit bool
		stderr         string
		warnSubstring  string
	}{
		// The bug: a valid policy makes the parse fail; xl drops it all.
		{"strategy=host,policy=relaxed", -6, false, false, "", "silently drops"},
		{"strategy=host,policy=strict", -6, false, false, "", "silently drops"},
		{"policy=relaxed", -6, false, false, "", "silently drops"},
		// strategy=host alone is applied with a policy from the stack.
		{"strategy=host", 0, true, false, "", "uninitialised global policy"},
		// An invalid policy is printed and then accepted.
		{"strategy=host,policy=bogus", 0, true, false, "Unknown RDM policy: bogus", "uninitialised global policy"},
		{"policy=bogus", 0, true, true, "Unknown RDM policy: bogus", "uninitialised memory"},
		{"strategy=ignore", -6, false, false, "Unknown RDM strategy option: ignore", ""},
		{"strategy=host,", -6, false, false, "", "as well"},
		{"", -6, false, false, "", "as well"},
		{"mode=host", -6, false, false, "Unknown RDM state option: mode", "as well"},
	}
	for _, c := range cases {
		r := Xl417Rdm(c.in)
		if r.Rc != c.rc || r.Applied != c.applied || r.StrategyUninit != c.strategyUninit || strings.Join(r.Stderr, "") != c.stderr {
			t.Errorf("%q: got %+v", c.in, r)
		}
		if r.Applied && !r.PolicyUninit {
			t.Errorf("%q: applied with a policy the parser set", c.in)
		}
		if !r.Applied && (r.Strategy != xl.RdmStrategyIgnore || r.Policy != xl.RdmPolicyInvalid) {
			t.Errorf("%q: dropped setting should leave libxl defaults, got %+v", c.in, r)
		}
		w := Xl417Warning(c.in)
		if (c.warnSubstring == "") != (w == "") || !strings.Contains(w, c.warnSubstring) {
			t.Errorf("%q: warning %q, want one containing %q", c.in, w, c.warnSubstring)
		}
	}
}

// oracle builds testdata/xlu_rdm_oracle.c against Debian's libxlutil 4.17.
func oracle(t testing.TB) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: the libxlutil differential test needs cc and libxen-dev")
	}
	bin := filepath.Join(t.TempDir(), "oracle")
	out, err := exec.Command(cc, "-o", bin, filepath.Join("testdata", "xlu_rdm_oracle.c"), "-lxlutil", "-lxenlight").CombinedOutput()
	if err != nil {
		t.Skipf("cannot build the libxlutil oracle (apt-get install libxen-dev): %v\n%s", err, out)
	}
	return bin
}

// TestXl417RdmAgainstLibxlutil runs Xen's own xlu_rdm_parse on a corpus
// (fixed cases plus random strings over the parser's alphabet) and checks
// Xl417Rdm against it: return code, which fields were written, and what
// was printed.
func TestXl417RdmAgainstLibxlutil(t *testing.T) {
	bin := oracle(t)
	corpus := []string{
		"strategy=host", "strategy=host,policy=relaxed", "strategy=host,policy=strict",
		"policy=relaxed", "policy=Strict", "policy=invalid", "policy=bogus", "strategy=host,policy=bogus",
		"policy=bogus,strategy=host", "policy=a,policy=b", "strategy=ignore", "", ",", "strategy=host,",
		"strategy=host,,", "=host", "strategy", "strategy=", "policy=", "policy=,strategy=host",
		"strategy=host=1", "strategy=host,strategy=host", "Strategy=host", " strategy=host",
		"strategy=host ", "strategy=host,policy", "policy=relaxed,", "x=y,strategy=host",
	}
	rng := rand.New(rand.NewSource(1))
	atoms := []string{"strategy", "policy", "host", "ignore", "strict", "relaxed", "RELAXED", "invalid", "bogus", "=", ",", " ", "h", ""}
	for i := 0; i < 3000; i++ {
		var b strings.Builder
		for n := rng.Intn(7); n >= 0; n-- {
			b.WriteString(atoms[rng.Intn(len(atoms))])
		}
		corpus = append(corpus, b.String())
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(strings.Join(corpus, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	sn := bufio.NewScanner(strings.NewReader(string(out)))
	i, mismatches := 0, 0
	for sn.Scan() {
		if i >= len(corpus) {
			t.Fatalf("oracle printed more lines than inputs")
		}
		in := corpus[i]
		i++
		fields, printed, _ := strings.Cut(sn.Text(), "\t")
		var rc int
		var strat, pol string
		if _, err := fmt.Sscan(fields, &rc, &strat, &pol); err != nil {
			t.Fatalf("oracle line %q: %v", sn.Text(), err)
		}
		r := Xl417Rdm(in)
		bad := r.Rc != rc || strings.Join(r.Stderr, "") != printed
		if rc == 0 {
			// What xl copies: a field the parser wrote, or stack garbage.
			bad = bad || (strat == "unset") != r.StrategyUninit || (pol == "unset") != r.PolicyUninit
			if strat != "unset" {
				bad = bad || strat != fmt.Sprint(int(r.Strategy))
			}
		}
		if bad {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("%q: libxlutil rc=%d strategy=%s policy=%s printed %q; Xl417Rdm %+v", in, rc, strat, pol, printed, r)
			}
		}
	}
	if i != len(corpus) {
		t.Fatalf("oracle answered %d of %d inputs", i, len(corpus))
	}
	t.Logf("%d inputs compared with libxlutil, %d mismatches", len(corpus), mismatches)
}

func FuzzParseRdm(f *testing.F) {
	for _, s := range []string{"strategy=host", "strategy=host,policy=relaxed", "policy=bogus", ",", "strategy=host,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseRdm(s)
		if err == nil {
			again, err := ParseRdm(set.String())
			if err != nil || again != set {
				t.Fatalf("%q -> %q does not round-trip: %+v %v", s, set.String(), again, err)
			}
		}
		r := Xl417Rdm(s)
		if r.Applied != (r.Rc == 0) {
			t.Fatalf("%q: applied %v with rc %d", s, r.Applied, r.Rc)
		}
		// A setting we accept with a policy is one xl 4.17 drops.
		if err == nil && set.PolicySet && r.Applied {
			t.Fatalf("%q: xl 4.17 applied a valid policy", s)
		}
		_ = Xl417Warning(s)
	})
}
