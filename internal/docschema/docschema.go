// Package docschema validates xlpt's --json documents against
// docs/schema/xlpt-1.json, the JSON Schema (draft 2020-12) of schema
// xlpt/1, for the tests: the golden files of cmd/xlpt and every --json
// document the end-to-end tests read. It is used by tests only.
package docschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Path is the schema file, relative to the repository's root.
const Path = "docs/schema/xlpt-1.json"

// id is the schema's $id: its definitions are compiled from there, the
// file itself being added as that resource (nothing is fetched).
const id = "https://github.com/xlpt/xlpt/docs/schema/xlpt-1.json"

var (
	once     sync.Once
	compiler *jsonschema.Compiler
	loadErr  error
	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// load reads the schema file from the repository the working directory
// is in (go test runs in the package's directory).
func load() {
	root, err := repoRoot()
	if err != nil {
		loadErr = err
		return
	}
	f, err := os.Open(filepath.Join(root, Path))
	if err != nil {
		loadErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		loadErr = fmt.Errorf("%s: %w", Path, err)
		return
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		loadErr = err
		return
	}
	compiler = c
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no go.mod above the working directory: cannot find %s", Path)
		}
		dir = up
	}
}

// schema is the compiled definition def ("" the whole schema: any
// command's document).
func schema(def string) (*jsonschema.Schema, error) {
	once.Do(load)
	if loadErr != nil {
		return nil, loadErr
	}
	mu.Lock()
	defer mu.Unlock()
	if s, ok := compiled[def]; ok {
		return s, nil
	}
	loc := id
	if def != "" {
		loc += "#/$defs/" + def
	}
	s, err := compiler.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", loc, err)
	}
	compiled[def] = s
	return s, nil
}

// Validate checks doc, one JSON document, against the schema's
// definition def (a command's document: "check", "pci_attach"; "" for
// any command's).
func Validate(def string, doc []byte) error {
	s, err := schema(def)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not one JSON document: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("against %s#/$defs/%s: %w", Path, def, err)
	}
	return nil
}

// commandDefs names the definition of the commands whose document is
// another command's.
var commandDefs = map[string]string{
	"sriov enable": "sriov_set", "sriov disable": "sriov_set",
	"migrate detach": "migrate", "migrate attach": "migrate", "migrate rollback": "migrate", "migrate status": "migrate",
	"pci-move": "migrate",
}

// Def is the definition of a command's document: "cfg check" is
// cfg_check, "sriov enable" sriov_set.
func Def(command string) string {
	if d, ok := commandDefs[command]; ok {
		return d
	}
	return strings.NewReplacer("-", "_", " ", "_").Replace(command)
}

// CommandOf finds the xlpt command in a shell command line ("xlpt --json
// pci-attach hvm1 ..." is pci-attach; "xlpt cfg check ..." cfg check),
// "" when the line runs no xlpt command.
func CommandOf(line string) string {
	f := strings.Fields(line)
	for i := 0; i < len(f); i++ {
		if f[i] != "xlpt" && !strings.HasSuffix(f[i], "/xlpt") {
			continue
		}
		for j := i + 1; j < len(f); j++ {
			a := f[j]
			if strings.HasPrefix(a, "-") {
				if takesValue[strings.TrimLeft(a, "-")] {
					j++
				}
				continue
			}
			if parents[a] && j+1 < len(f) {
				return a + " " + f[j+1]
			}
			return a
		}
	}
	return ""
}

// parents are the commands with subcommands.
var parents = map[string]bool{"cfg": true, "rdm": true, "sriov": true, "migrate": true}

// takesValue are the global flags that take a value (given before the
// command name).
var takesValue = map[string]bool{"log-level": true, "log-format": true, "config": true, "sysfs-root": true,
	"proc-root": true, "state-dir": true, "config-dir": true, "pci-ids": true}

// IsJSON says whether out looks like a --json document (one object).
func IsJSON(out []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(out, &m) == nil && m["schema"] != nil
}
