package plain

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestNearest(t *testing.T) {
	words := []string{"pci-attach", "pci-detach", "pci-list", "check", "sriov"}
	for w, want := range map[string]string{
		"pci-atach": "pci-attach", "chek": "check", "sriv": "sriov", "list": "pci-list",
		"pci": "", "restore": "", "x": "",
	} {
		if got := Nearest(w, words); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", w, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d", d)
	}
}

// FlagError says each of the flag package's errors with the flag as
// typed and the value it wants.
func TestFlagError(t *testing.T) {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "plan", Usage: "The plan `FILE`"},
		&cli.IntFlag{Name: "timeout"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}},
	}
	parse := func(args ...string) error {
		set := flag.NewFlagSet("t", flag.ContinueOnError)
		set.SetOutput(io.Discard)
		for _, f := range flags {
			f.Apply(set)
		}
		return set.Parse(args)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pln", "x"}, "unknown flag --pln; did you mean --plan?"},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"--timeout", "soon"}, `--timeout "soon": give a whole number`},
		{[]string{"--force=maybe"}, `--force "maybe": give true or false (or leave the value out)`},
		{[]string{"--plan"}, "--plan needs a value: give a file"},
	} {
		if got := FlagError(parse(c.args...), flags); got == nil || got.Error() != c.want {
			t.Errorf("%q: %v, want %q", c.args, got, c.want)
		}
	}
	other := errors.New("something else")
	if FlagError(other, flags) != other {
		t.Error("an error that is no flag error is not kept")
	}
}

// Error puts what a wrapped file or JSON error says in plain words, in
// place, keeping the rest of the message.
func TestError(t *testing.T) {
	dir := t.TempDir()
	_, notExist := os.Open(filepath.Join(dir, "nosuch"))
	_, isDir := os.ReadFile(dir)
	var v any
	syntax := json.Unmarshal([]byte("garbage"), &v)
	for err, want := range map[error]string{
		fmt.Errorf("read the plan: %w", notExist):                   "read the plan: " + filepath.Join(dir, "nosuch") + " does not exist",
		fmt.Errorf("read the plan: %w", isDir):                      "read the plan: " + dir + " is a directory, not a file",
		fmt.Errorf("x is not a plan (%w)", syntax):                  "x is not a plan (not valid JSON at byte 1)",
		errors.Join(errors.New("a"), fmt.Errorf("b: %w", notExist)): "a\nb: " + filepath.Join(dir, "nosuch") + " does not exist",
		errors.New("plain already"):                                 "plain already",
	} {
		if got := Error(err); got != want {
			t.Errorf("Error(%q) = %q, want %q", err, got, want)
		}
	}
}
