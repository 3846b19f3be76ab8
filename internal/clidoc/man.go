// Package clidoc renders an urfave/cli application's command definitions
// as a man page and as a bash completion script, so both follow the
// commands without being written twice. urfave/cli's own ToMan leaves out
// each command's arguments, description and examples.
package clidoc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// Page is what a man page needs beyond the command definitions.
type Page struct {
	Section string // "1"
	Date    string // YYYY-MM-DD, the source's date (reproducible builds)
	Manual  string // centre header, e.g. "Xen PCI passthrough"
	// Extra sections after ENVIRONMENT, in order: title and roff-free text
	// (rendered as Description is).
	Extra []Section
}

// Section is one extra man page section: text (rendered as a
// description is), then a list of terms and what they mean.
type Section struct {
	Title, Text string
	Items       [][2]string
}

// Man renders app (after app.Setup, so its help and version flags are
// there) as one roff man page: every visible command and subcommand with
// its arguments, description and flags.
func Man(app *cli.App, p Page) string {
	var b strings.Builder
	name := app.Name
	fmt.Fprintf(&b, ".\\\" Generated from %s's command definitions; do not edit.\n", name)
	fmt.Fprintf(&b, ".TH %s %s %s %s %s\n", strings.ToUpper(name), p.Section, quoteArg(p.Date),
		quoteArg(name+" "+app.Version), quoteArg(p.Manual))
	// No hyphenation, ragged right: option names and paths stay whole.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", name, text(app.Usage))
	b.WriteString(".SH SYNOPSIS\n")
	fmt.Fprintf(&b, ".B %s\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n", name)
	if app.Description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		b.WriteString(prose(app.Description))
	}
	b.WriteString(".SH GLOBAL OPTIONS\n")
	b.WriteString(flags(app.Flags))
	b.WriteString(".SH COMMANDS\n")
	for _, c := range app.VisibleCommands() {
		command(&b, name, c)
	}
	if env := envVars(app); len(env) > 0 {
		b.WriteString(".SH ENVIRONMENT\n")
		for _, e := range env {
			fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", e.name, text(e.usage))
		}
	}
	for _, s := range p.Extra {
		fmt.Fprintf(&b, ".SH %s\n", quoteArg(strings.ToUpper(s.Title)))
		b.WriteString(prose(s.Text))
		for _, it := range s.Items {
			fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", text(it[0]), text(it[1]))
		}
	}
	return b.String()
}

func command(b *strings.Builder, parent string, c *cli.Command) {
	path := parent + " " + c.Name
	synopsis := path
	if len(visibleFlags(c.Flags)) > 0 {
		synopsis += " [OPTIONS]"
	}
	if c.ArgsUsage != "" {
		synopsis += " " + c.ArgsUsage
	} else if len(c.Subcommands) > 0 {
		synopsis += " COMMAND ..."
	}
	fmt.Fprintf(b, ".SS %s\n", quoteArg(synopsis))
	if c.Usage != "" {
		b.WriteString(text(sentence(c.Usage)) + "\n")
	}
	if c.Description != "" {
		b.WriteString(".PP\n")
		b.WriteString(prose(c.Description))
	}
	if fl := visibleFlags(c.Flags); len(fl) > 0 {
		b.WriteString(".PP\nOptions:\n.RS 4\n")
		b.WriteString(flags(fl))
		b.WriteString(".RE\n")
	}
	for _, sub := range c.VisibleCommands() {
		command(b, path, sub)
	}
}

// visibleFlags drops hidden flags and a command's --help (the global
// options list it once, beside --version).
func visibleFlags(fl []cli.Flag) []cli.Flag {
	var out []cli.Flag
	app := isAppFlags(fl)
	for _, f := range fl {
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		if f == cli.HelpFlag && !app {
			continue
		}
		out = append(out, f)
	}
	return out
}

// isAppFlags is true for the application's flag list (the one with
// --version), where --help belongs.
func isAppFlags(fl []cli.Flag) bool {
	for _, f := range fl {
		if f == cli.VersionFlag {
			return true
		}
	}
	return false
}

func flags(fl []cli.Flag) string {
	var b strings.Builder
	for _, f := range visibleFlags(fl) {
		fmt.Fprintf(&b, ".TP\n%s\n", flagHead(f))
		b.WriteString(text(flagUsage(f)) + "\n")
	}
	return b.String()
}

// flagHead renders "-v, --verbose" or "--slots SLOTS" in bold, with the
// value placeholder in italics.
func flagHead(f cli.Flag) string {
	var names []string
	for _, n := range sortedNames(f) {
		names = append(names, `\fB`+text(dashes(n))+`\fR`)
	}
	head := strings.Join(names, ", ")
	if takesValue(f) {
		head += ` \fI` + text(Placeholder(f)) + `\fR`
	}
	return head
}

// sortedNames puts short names first, as getopt-style help does.
func sortedNames(f cli.Flag) []string {
	names := append([]string(nil), f.Names()...)
	sort.SliceStable(names, func(i, j int) bool { return len(names[i]) == 1 && len(names[j]) > 1 })
	return names
}

func dashes(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

func takesValue(f cli.Flag) bool {
	d, ok := f.(cli.DocGenerationFlag)
	return ok && d.TakesValue()
}

// Placeholder is a flag's value placeholder: the word its usage quotes
// in backticks (urfave/cli's convention), else its name in capitals.
func Placeholder(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		if name, _ := unquoteUsage(d.GetUsage()); name != "" {
			return name
		}
	}
	return strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
}

// usage is a flag's usage without the backticks around its placeholder.
func usage(d cli.DocGenerationFlag) string {
	_, u := unquoteUsage(d.GetUsage())
	return u
}

// unquoteUsage returns the first word quoted in backticks and the usage
// without those backticks, as urfave/cli's help reads them (it does not
// export its own).
func unquoteUsage(u string) (placeholder, usage string) {
	before, rest, ok := strings.Cut(u, "`")
	if !ok {
		return "", u
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", u
	}
	return name, before + name + after
}

func flagUsage(f cli.Flag) string {
	d, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	u := sentence(upperFirst(usage(d)))
	def := d.GetDefaultText()
	if def == "" {
		def = d.GetValue()
	}
	if takesValue(f) && def != "" && def != `""` && def != "0" && def != "0s" && !strings.Contains(strings.ToLower(usage(d)), "default") {
		u += " Default: " + strings.Trim(def, `"`) + "."
	} else if !takesValue(f) && def == "true" {
		u += " On by default (--" + f.Names()[0] + "=false turns it off)."
	}
	if env := d.GetEnvVars(); len(env) > 0 {
		u += " Environment: " + strings.Join(env, ", ") + "."
	}
	return u
}

// sentence ends s with a full stop, as man page paragraphs do.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ")") && strings.HasSuffix(strings.TrimSuffix(s, ")"), ".") {
		return s
	}
	return s + "."
}

type envVar struct{ name, usage string }

// envVars lists the environment variables the global flags read.
func envVars(app *cli.App) []envVar {
	var out []envVar
	for _, f := range visibleFlags(app.Flags) {
		d, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		for _, e := range d.GetEnvVars() {
			out = append(out, envVar{e, "As " + dashes(f.Names()[0]) + ": " + sentence(lowerFirst(usage(d)))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// prose renders the plain text of a description: unindented lines are
// filled paragraphs, "- " items become bulleted paragraphs, other indented
// lines (examples, tables) keep their layout.
func prose(s string) string {
	var b strings.Builder
	lines := strings.Split(strings.TrimSpace(s), "\n")
	verbatim := false
	endVerbatim := func() {
		if verbatim {
			b.WriteString(".fi\n.RE\n")
			verbatim = false
		}
	}
	para := false // a paragraph macro is due before the next text
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		ind := indent(l)
		item := strings.HasPrefix(strings.TrimSpace(l), "- ")
		switch {
		case l == "":
			endVerbatim()
			para = true
		case ind > 0 && item:
			endVerbatim()
			// The item and its continuation lines (indented deeper).
			t := strings.TrimSpace(l)[2:]
			for i+1 < len(lines) && indent(lines[i+1]) > ind && strings.TrimSpace(lines[i+1]) != "" {
				i++
				t += " " + strings.TrimSpace(lines[i])
			}
			fmt.Fprintf(&b, ".IP \\(bu 3\n%s\n", text(t))
			para = true
		case ind > 0:
			if !verbatim {
				b.WriteString(".RS 2\n.nf\n")
				verbatim = true
			}
			b.WriteString(text(strings.TrimSpace(l)) + "\n")
		default:
			endVerbatim()
			if para {
				b.WriteString(".PP\n")
				para = false
			}
			b.WriteString(text(l) + "\n")
		}
	}
	endVerbatim()
	return b.String()
}

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " \t")) }

// text escapes s for roff: backslashes, minus signs (so options copy and
// paste as ASCII), and a leading control character.
func text(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// quoteArg quotes a macro argument.
func quoteArg(s string) string {
	return `"` + strings.ReplaceAll(text(s), `"`, `\(dq`) + `"`
}
