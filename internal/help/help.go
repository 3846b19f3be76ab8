// Package help holds the long help of xlpt's commands: what `xlpt help
// COMMAND` prints under DESCRIPTION, and the man page (xlpt gen-docs man)
// under each command. Each text is a file of its own under text/, named
// by the command's full name (text/pci-attach.txt, text/rdm/check.txt;
// text/xlpt.txt is xlpt's own), embedded in the binary: prose is edited
// as prose, and the command definitions stay flags and actions.
package help

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed text
var texts embed.FS

// Of is the long help of the command with this full name ("pci-attach",
// "rdm check"; "" for xlpt itself), without its file's final newline. A
// command without a text is a mistake in the build: Of panics, and the
// test of every command's help finds it before a binary ships.
func Of(command string) string {
	b, err := texts.ReadFile(file(command))
	if err != nil {
		panic(fmt.Sprintf("help: no text for %q: %v", command, err))
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
