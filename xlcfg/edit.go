package xlcfg

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// WithStringList returns the file's text with the list setting name set
// to items. Only that value is rewritten; every other byte of the file,
// comments included, stays as it was. A setting built with "+=" is
// refused: rewriting one piece of it would change what the others mean.
func (f *File) WithStringList(name string, items []string) (string, error) {
	last := -1
	for i, s := range f.Settings {
		if s.Name != name {
			continue
		}
		if s.Append {
			return "", fmt.Errorf("%s is built with += (line %d); xlpt will not rewrite it: merge it into one %s = [...] first", name, s.Line, name)
		}
		last = i
	}
	if last < 0 {
		src := f.Src
		if src != "" && !strings.HasSuffix(src, "\n") {
			src += "\n"
		}
		return src + name + " = " + formatList(items, "") + "\n", nil
	}
	s := f.Settings[last]
	if !s.Value.IsList {
		return "", fmt.Errorf("%s (line %d) is a single value, not a list", name, s.Line)
	}
	// Keep the layout: one item per line if the old value spread over lines.
	indent := ""
	if strings.Contains(f.Src[s.ValStart:s.ValEnd], "\n") {
		indent = strings.Repeat(" ", s.ValStart-lineStart(f.Src, s.ValStart)+2)
	}
	return f.Src[:s.ValStart] + formatList(items, indent) + f.Src[s.ValEnd:], nil
}

func lineStart(src string, pos int) int { return strings.LastIndexByte(src[:pos], '\n') + 1 }

func formatList(items []string, indent string) string {
	if len(items) == 0 {
		return "[ ]"
	}
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = quote(it)
	}
	if indent == "" {
		return "[ " + strings.Join(quoted, ", ") + " ]"
	}
	return "[ " + strings.Join(quoted, ",\n"+indent) + ",\n" + indent[:len(indent)-2] + "]"
}

// quote writes a string xl reads back unchanged.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

// WriteList sets the list name in the xl.cfg at path: the new text is
// read back and checked before it atomically replaces the file (same
// directory, fsync, rename), so a failure leaves the old file untouched.
func WriteList(path, name string, items []string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := Parse(string(old))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	text, err := f.WithStringList(name, items)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	back, err := Parse(text)
	if err != nil {
		return fmt.Errorf("%s: the edited file would not parse (not written): %w", path, err)
	}
	if got, _, _ := back.StringList(name); !reflect.DeepEqual(got, nonNil(items)) {
		return fmt.Errorf("%s: the edited file reads back %s = %q, not %q (not written)", path, name, got, items)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".xlpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
