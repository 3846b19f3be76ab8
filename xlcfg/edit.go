package xlcfg

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
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
// directory, fsync of the file, rename, fsync of the directory), so a
// failure leaves the old file untouched and a crash leaves one or the
// other. A symlink (as in /etc/xen/auto/) is followed: its target is
// edited and the link stays. The file keeps its mode, owner and group.
func WriteList(path, name string, items []string) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(target)
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
	return replaceFile(target, []byte(text))
}

// replaceFile writes data to a new file beside path, with path's mode,
// owner and group, syncs it, renames it over path and syncs the
// directory, so the rename itself survives a crash.
func replaceFile(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".xlpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = writeLike(tmp, st, data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeLike writes data to f and gives it the mode, owner and group of st.
func writeLike(f *os.File, st os.FileInfo, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(st.Mode().Perm()); err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			return fmt.Errorf("keep owner %d:%d: %w", sys.Uid, sys.Gid, err)
		}
	}
	return f.Sync()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
