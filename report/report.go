// Package report holds xlpt's --json documents, the public contract of
// schema xlpt/1 (docs/json.md; docs/schema/xlpt-1.json is their JSON
// Schema): one Go type per command's document, each built by a
// constructor from what hotplug (or xl, rdm) returns, and Write, which
// puts one on a writer with the schema marker, the warnings and the
// notes. A program that embeds xlpt's packages builds the same documents
// as the command line prints, byte for byte.
//
// The package decides nothing and prints nothing of its own: it says in
// xlpt's JSON vocabulary what a result holds. It builds without cgo.
//
// Files:
//
//	report.go      Schema, Envelope, Document, Write
//	devices.go     pci-spec, pci-attach and pci-detach, pci-list, pci-assignable-*, hide-cmdline
//	check.go       check, msi
//	check_json.go  check's device list as JSON, by hand (megabytes on a full scan)
//	guest.go       rdm list and rdm check, cfg check, add-pci and remove-pci
//	host.go        sriov list, enable and disable, restore, recover, the migration plan, migrate check
package report

import (
	"encoding/json"
	"io"
)

// Schema marks every document; a change that breaks a script reading it
// gets a new version.
const Schema = "xlpt/1"

// Envelope opens every document: the schema marker, then the warnings
// and notes that also went to stderr.
type Envelope struct {
	Schema   string   `json:"schema"`
	Warnings []string `json:"warnings"`
	Notes    []string `json:"notes"`
}

// Head is the document's envelope.
func (e *Envelope) Head() *Envelope { return e }

// Document is a --json result: a struct that embeds Envelope.
type Document interface{ Head() *Envelope }

// Write puts doc on w as xlpt prints it (indented by two spaces, one
// newline after), its envelope filled in: Schema, and warnings and notes
// as given ([] for none).
func Write(w io.Writer, doc Document, warnings, notes []string) error {
	h := doc.Head()
	h.Schema, h.Warnings, h.Notes = Schema, orEmpty(warnings), orEmpty(notes)
	if fw, ok := doc.(interface{ writeJSON(io.Writer) error }); ok {
		return fw.writeJSON(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// orEmpty is s, or an empty list for nil: a list in a document is never
// null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
