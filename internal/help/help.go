// Package help holds what xlpt's help says beyond the command
// definitions: each command's long help, which `xlpt help COMMAND`
// prints under DESCRIPTION and the man page (xlpt gen-docs man) under
// the command; the man page's closing sections; the shell functions of
// the bash completion script; and how a flag's line reads (FlagString).
//
// The texts are files, embedded in the binary, so that prose is edited as
// prose and the command definitions stay flags and actions: text/ holds a
// file per command, named by its full name (text/pci-attach.txt,
// text/rdm/check.txt; text/xlpt.txt is xlpt's own), man/ the man page's
// sections (files.txt: a file a line, its path, a tab, what it is) and
// bash/ the completion script's helpers.
package help

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/xlpt/xlpt/internal/clidoc"
)

//go:embed text man bash
var texts embed.FS

// Of is the long help of the command with this full name ("pci-attach",
// "rdm check"; "" for xlpt itself), without its file's final newline. A
// command without a text is a mistake in the build: Of panics, and the
// test of every command's help finds it before a binary ships.
func Of(command string) string { return read(file(command)) }

// read is the embedded file at name, without its final newline.
func read(name string) string {
	b, err := texts.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("help: no text %s: %v", name, err))
	}
	return strings.TrimSuffix(string(b), "\n")
}

func file(command string) string {
	if command == "" {
		return "text/xlpt.txt"
	}
	return "text/" + strings.ReplaceAll(command, " ", "/") + ".txt"
}

// Commands are the full names of the commands that have a text, sorted
// ("" is xlpt's own).
func Commands() []string {
	var out []string
	fs.WalkDir(texts, "text", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			name := strings.TrimSuffix(strings.TrimPrefix(p, "text/"), ".txt")
			if name == "xlpt" {
				name = ""
			}
			out = append(out, strings.ReplaceAll(name, "/", " "))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// Man is the man page's sections after the commands': Exit status,
// Files, See also.
func Man() []clidoc.Section {
	var files [][2]string
	for _, line := range strings.Split(read("man/files.txt"), "\n") {
		path, what, _ := strings.Cut(line, "\t")
		files = append(files, [2]string{path, what})
	}
	return []clidoc.Section{
		{Title: "Exit status", Text: read("man/exit-status.txt")},
		{Title: "Files", Items: files},
		{Title: "See also", Text: read("man/see-also.txt")},
	}
}

// BashHelpers are the shell functions the completion script calls to
// list domains (_xlpt_domains) and devices (_xlpt_devices [DRIVER...]).
func BashHelpers() string { return read("bash/helpers.sh") }
