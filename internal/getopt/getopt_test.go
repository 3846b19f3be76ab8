package getopt

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp has what getopt tells apart: global flags (one with a value, a
// counter), a command with a switch, a valued flag and a Repeated one,
// and a parent command with a child.
func testApp() *cli.App {
	child := &cli.Command{Name: "child", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}}
	return &cli.App{
		Name: "t",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}},
		},
		Commands: []*cli.Command{
			{Name: "cmd", Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}},
				&cli.StringFlag{Name: "options", Aliases: []string{"o"}},
				&Repeated{GenericFlag: cli.GenericFlag{Name: "pci"}},
			}},
			{Name: "parent", Flags: []cli.Flag{&cli.BoolFlag{Name: "all"}}, Subcommands: []*cli.Command{child}},
		},
	}
}

func TestArgsReorders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"cmd a b -f", "cmd -f a b"},
		{"cmd a -o x=1 b", "cmd -o x=1 a b"},
		{"cmd a --options=x=1", "cmd --options=x=1 a"},
		{"cmd -- -f a", "cmd -- -f a"},
		{"cmd a -- b -f", "cmd -- a b -f"},
		{"cmd a --root /r -f", "--root /r cmd -f a"},
		{"cmd a -vv", "-vv cmd a"},
		{"cmd a --pci 1,2 --pci 3", "cmd --pci 1,2 --pci 3 a"},
		{"parent child x --json --root /r", "--root /r parent child --json x"},
		{"parent --all child x", "parent --all child x"},
		{"cmd a --help b", "cmd --help"},
		{"cmd a --bogus", "cmd --bogus a"},
		{"nosuch a -f", "nosuch a -f"},
		{"parent nosuch -f", "parent nosuch -f"},
	} {
		got, err := Args(testApp(), append([]string{"t"}, strings.Fields(c.in)...))
		if want := append([]string{"t"}, strings.Fields(c.want)...); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %q (%v)\n want %q", c.in, got, err, want)
		}
	}
}

func TestArgsRefusesAValueGivenTwice(t *testing.T) {
	for in, want := range map[string]TwiceError{
		"cmd -o a x -o b":         {Command: "cmd", Flag: "options", First: "a", Second: "b"},
		"cmd --options=a x -o b":  {Command: "cmd", Flag: "options", First: "a", Second: "b"},
		"--root /a cmd --root /b": {Flag: "root", First: "/a", Second: "/b"},
		"--root /a --root=/b cmd": {Flag: "root", First: "/a", Second: "/b"},
	} {
		args := append([]string{"t"}, strings.Fields(in)...)
		got, err := Args(testApp(), args)
		var twice *TwiceError
		if !errors.As(err, &twice) || *twice != want || !reflect.DeepEqual(got, args) {
			t.Errorf("%s: %q %v, want %+v and the line as given", in, got, err, want)
		}
	}
	// repeatable flags and switches may come again
	for _, in := range []string{"cmd --pci a --pci b", "cmd -f -f", "-v -v cmd"} {
		if _, err := Args(testApp(), append([]string{"t"}, strings.Fields(in)...)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// Repeated keeps commas and starts afresh at every run of a shared
// command.
func TestRepeatedValues(t *testing.T) {
	var got []string
	app := testApp()
	app.Commands[0].Action = func(c *cli.Context) error { got = Values(c, "pci"); return nil }
	for range 2 {
		if err := app.Run([]string{"t", "cmd", "--pci", "03:00.0,permissive=1", "--pci", "04:00.0"}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"03:00.0,permissive=1", "04:00.0"}; !reflect.DeepEqual(got, want) {
			t.Errorf("Values %q, want %q", got, want)
		}
	}
}
