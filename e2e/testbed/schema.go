package testbed

import (
	"fmt"

	"github.com/xlpt/xlpt/internal/docschema"
)

// CheckJSON validates what an xlpt command printed with --json against
// docs/schema/xlpt-1.json (the definition of that command's document):
// every document the scenarios read is held to the schema, as the golden
// files are. Output that is no --json document (text, a pipe through
// jq) is not checked.
func CheckJSON(cmd, stdout string) error {
	name := docschema.CommandOf(cmd)
	if name == "" || !docschema.IsJSON([]byte(stdout)) {
		return nil
	}
	if err := docschema.Validate(docschema.Def(name), []byte(stdout)); err != nil {
		return fmt.Errorf("%s: the --json document breaks the schema: %w", cmd, err)
	}
	return nil
}
