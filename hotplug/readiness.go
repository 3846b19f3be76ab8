package hotplug

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xlpt/xlpt/pcibind"
	"github.com/xlpt/xlpt/xl"
)

// Verdict says whether a device can be passed through now.
type Verdict string

const (
	VerdictReady       Verdict = "ready"        // assignable (on a stub driver), or in a domain already
	VerdictNeedsHiding Verdict = "needs-hiding" // in dom0, nothing in the way: pci-assignable-add it
	VerdictCaution     Verdict = "caution"      // can be passed through, with the cautions given
	VerdictRefused     Verdict = "refused"      // dom0 needs it: hiding is refused without --force
)

// Readiness is the one judgement of a device that `check` reports and
// pci-assignable-add enforces, so the verdict and the refusal cannot
// disagree.
type Readiness struct {
	Verdict Verdict
	// Refusals say why dom0 must keep the device (bridges, the root
	// filesystem's controller, the default route's NIC, ...). They refuse
	// a hide without --force whatever the verdict.
	Refusals []string
	// Cautions are worth knowing before passing it through (same-domain
	// siblings still in dom0, ACS, shared reset).
	Cautions []string
	// Reasons are what the verdict rests on, for the report.
	Reasons []string
}

// ReadinessInput is what the judgement reads: the device, the host's rules
// about it, its owner, and what dom0 uses (useErr when that could not be
// read).
type ReadinessInput struct {
	Device *pcibind.Device
	Host   *pcibind.Host // the device's host: its rules about the device
	Owner  Owner
	Uses   []pcibind.Use
	UseErr error
}

// JudgeReadiness applies the readiness rule to one device.
func JudgeReadiness(in ReadinessInput) Readiness {
	d := in.Device
	onStub := pcibind.IsStub(d.Driver)
	inDomain := in.Owner.Kind == OwnedByDomain
	r := Readiness{Refusals: in.Host.Refusals(d.BDF, in.Uses)}
	for _, w := range in.Host.Warnings(d.BDF) {
		r.Cautions = append(r.Cautions, w.Message)
	}
	switch {
	case in.UseErr == nil || d.IsBridge() || d.IsHostBridge() || onStub:
	case errors.Is(in.UseErr, pcibind.ErrNoProc):
		// A recorded tree without /proc: what the recording cannot say
		// is a caution of the report, not a refusal of every device.
		r.Cautions = append(r.Cautions, "dom0's use of it is unknown: no /proc was recorded with this tree")
	default:
		r.Refusals = append(r.Refusals, "cannot tell whether dom0 uses it: "+in.UseErr.Error())
	}
	if sib := in.Host.SiblingsHeldByDom0(d.BDF); len(sib) > 0 {
		r.Cautions = append(r.Cautions, fmt.Sprintf("same-domain group: %s still held by dom0 must be hidden with it (pci-assignable-add --group)", xl.JoinBdfs(sib)))
	}
	if inDomain {
		r.Cautions = append([]string{"assigned to a domain now"}, r.Cautions...)
	}
	switch {
	case len(r.Refusals) > 0 && !onStub && !inDomain:
		r.Verdict = VerdictRefused
		r.Reasons = append(append([]string{}, r.Refusals...), r.Cautions...)
	case len(r.Cautions) > 0:
		r.Verdict = VerdictCaution
		r.Reasons = r.Cautions
		if !onStub && !inDomain {
			r.Reasons = append([]string{"needs hiding"}, r.Cautions...)
		}
	case onStub || inDomain:
		r.Verdict = VerdictReady
	default:
		r.Verdict = VerdictNeedsHiding
		r.Reasons = []string{"bound to a dom0 driver: pci-assignable-add it"}
		if d.Driver == "" {
			r.Reasons = []string{"no driver: pci-assignable-add it"}
		}
	}
	return r
}

// String is the verdict with its reasons, as `check` prints it.
func (r Readiness) String() string {
	switch r.Verdict {
	case VerdictRefused:
		return "refused: " + strings.Join(r.Refusals, "; ")
	case VerdictCaution:
		return "caution: " + strings.Join(r.Reasons, "; ")
	}
	return strings.ReplaceAll(string(r.Verdict), "-", " ")
}
