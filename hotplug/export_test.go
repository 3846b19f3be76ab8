package hotplug

// Test knobs: what the tests turn that the shipped package has no
// setting for.

// leaveOut takes one reconciler out of recovery until restore puts it
// back: the mutation tests, which show that the crash matrix can fail.
// It changes a package variable, so no test of this package runs in
// parallel with it (none does: t.Parallel is not used here).
func leaveOut(name string) (restore func()) {
	saved := toAssignable
	toAssignable = nil
	for _, r := range saved {
		if r.name != name {
			toAssignable = append(toAssignable, r)
		}
	}
	return func() { toAssignable = saved }
}
