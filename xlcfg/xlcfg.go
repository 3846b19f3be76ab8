// Package xlcfg reads and edits xl.cfg guest configuration files the way
// libxlutil 4.17 (xlu_cfg_readfile) reads them: the same tokens, the same
// grammar, the same quirks of its string escapes, the same "last
// assignment wins" and "+=" concatenation. The differential test holds it
// to libxlutil itself.
//
// It is written by hand because no Go library reads xl.cfg, and because
// editing (add or remove a pci entry) must keep the rest of the file as
// the user wrote it: every setting remembers where its value stands.
package xlcfg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xlpt/xlpt/xl"
)

// Value is a string (numbers are strings too, as in libxlutil) or a list.
type Value struct {
	IsList bool
	Str    string
	List   []Value
}

func (v Value) String() string {
	if !v.IsList {
		return strconv.Quote(v.Str)
	}
	var parts []string
	for _, e := range v.List {
		parts = append(parts, e.String())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Setting is one assignment, where it stands in the file.
type Setting struct {
	Name   string
	Append bool // name += value
	Value  Value
	Line   int
	// Start and End delimit the whole statement (name to value end);
	// ValStart and ValEnd the value, as byte offsets into the source.
	Start, End, ValStart, ValEnd int
}

// File is a parsed xl.cfg.
type File struct {
	Src      string
	Settings []Setting
	// Warnings are things xl accepts silently but probably should not.
	Warnings []string
}

// ErrSyntax is matched by every *SyntaxError.
var ErrSyntax = errors.New("xl.cfg syntax error")

// SyntaxError is where and why libxlutil would refuse the file.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string        { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// Get returns the value xl uses for name: the last assignment, with any
// "+=" after it already folded in.
func (f *File) Get(name string) (Value, bool) {
	var v Value
	found := false
	for _, s := range f.Settings {
		if s.Name != name {
			continue
		}
		if s.Append && found {
			v = concat(v, s.Value)
		} else {
			v = s.Value
		}
		found = true
	}
	return v, found
}

func concat(a, b Value) Value {
	if a.IsList {
		return Value{IsList: true, List: append(append([]Value{}, a.List...), b.List...)}
	}
	return Value{Str: a.Str + b.Str}
}

// String returns a single-value setting; ok is false when it is absent
// or a list.
func (f *File) String(name string) (string, bool) {
	v, ok := f.Get(name)
	if !ok || v.IsList {
		return "", false
	}
	return v.Str, true
}

// Long reads a number as xl does (strtol with base 0: 0x hex, 0 octal).
func (f *File) Long(name string) (int64, bool, error) {
	v, ok := f.Get(name)
	switch {
	case !ok:
		return 0, false, nil
	case v.IsList:
		return 0, true, fmt.Errorf("%s is a list but should be a single value", name)
	}
	for _, s := range f.Settings {
		if s.Name == name && s.Append {
			return 0, true, fmt.Errorf("%s: can't use += with numbers", name)
		}
	}
	n, err := strconv.ParseInt(v.Str, 0, 64)
	if err != nil {
		return 0, true, fmt.Errorf("%s = %q is not a valid number", name, v.Str)
	}
	return n, true, nil
}

// StringList returns a list of strings (xl's pci = [...] and friends).
func (f *File) StringList(name string) ([]string, bool, error) {
	v, ok := f.Get(name)
	switch {
	case !ok:
		return nil, false, nil
	case !v.IsList:
		return nil, true, fmt.Errorf("%s is a single value but should be a list", name)
	}
	out := make([]string, 0, len(v.List))
	for i, e := range v.List {
		if e.IsList {
			return nil, true, fmt.Errorf("%s[%d] is a list but should be a string", name, i)
		}
		out = append(out, e.Str)
	}
	return out, true, nil
}

// Parse reads an xl.cfg. Anything libxlutil 4.17 refuses is a
// *SyntaxError naming the line.
func Parse(src string) (*File, error) {
	p := &parser{lx: lexer{src: src, line: 1}}
	p.next()
	f := &File{Src: src}
	defer func() { f.Warnings = append(f.Warnings, p.lx.warnings...) }()
	for p.tok.kind != tEOF {
		switch p.tok.kind {
		case tNewline, tSemi:
			p.next()
			continue
		case tIdent:
		default:
			return nil, p.errorf("expected a setting name, found %s", p.tok)
		}
		s := Setting{Name: p.tok.text, Line: p.tok.line, Start: p.tok.pos}
		p.next()
		switch p.tok.kind {
		case tAssign:
		case tAppend:
			s.Append = true
		default:
			return nil, p.errorf("expected = or += after %s, found %s", s.Name, p.tok)
		}
		p.next()
		s.ValStart = p.tok.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		s.Value, s.End, s.ValEnd = v, p.lastEnd, p.lastEnd
		if s.Append {
			if prev, ok := f.Get(s.Name); ok && prev.IsList != v.IsList {
				return nil, &SyntaxError{s.Line, fmt.Sprintf("can't add [list] to \"string\" or vice versa (%s)", s.Name)}
			}
		}
		switch p.tok.kind {
		case tNewline, tSemi, tEOF:
		default:
			return nil, p.errorf("expected the end of the line after %s's value, found %s", s.Name, p.tok)
		}
		f.Settings = append(f.Settings, s)
	}
	return f, nil
}

type parser struct {
	lx      lexer
	tok     token
	lastEnd int // end offset of the last token consumed
	err     error
}

func (p *parser) next() {
	if p.err != nil {
		return
	}
	p.lastEnd = p.tok.end
	t, err := p.lx.next()
	if err != nil {
		p.err = err
		t = token{kind: tError, line: p.lx.line, pos: p.lx.pos}
	}
	p.tok = t
}

func (p *parser) errorf(format string, a ...any) error {
	if p.err != nil {
		return p.err
	}
	return &SyntaxError{p.tok.line, fmt.Sprintf(format, a...)}
}

func (p *parser) skipNewlines() {
	for p.tok.kind == tNewline {
		p.next()
	}
}

// value: STRING | NUMBER | '[' nl* (value nl* (',' nl* value nl*)* (',' nl*)?)? ']'
func (p *parser) value() (Value, error) {
	switch p.tok.kind {
	case tString, tNumber:
		v := Value{Str: p.tok.text}
		p.next()
		return v, p.err
	case tLBracket:
	default:
		return Value{}, p.errorf("expected a string, a number or '[', found %s", p.tok)
	}
	p.next()
	p.skipNewlines()
	v := Value{IsList: true, List: []Value{}}
	for p.tok.kind != tRBracket {
		e, err := p.value()
		if err != nil {
			return v, err
		}
		v.List = append(v.List, e)
		p.skipNewlines()
		if p.tok.kind == tRBracket {
			break
		}
		if p.tok.kind != tComma {
			return v, p.errorf("expected ',' or ']' in a list, found %s", p.tok)
		}
		p.next()
		p.skipNewlines()
	}
	p.next()
	return v, p.err
}

type tokKind int

const (
	tEOF tokKind = iota
	tError
	tIdent
	tNumber
	tString
	tAssign
	tAppend
	tSemi
	tComma
	tLBracket
	tRBracket
	tNewline
)

type token struct {
	kind     tokKind
	text     string
	line     int
	pos, end int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end of the file"
	case tNewline:
		return "the end of the line"
	case tString:
		return "string " + strconv.Quote(t.text)
	}
	return "`" + t.text + "'"
}

type lexer struct {
	src      string
	pos      int
	line     int
	warnings []string
}

// atLastByte handles libxlutil's lexer quirk: an illegal byte that is the
// very last byte of the file never reaches its error rule, and scanning
// just ends there. xl accepts such a file; so do we, with a warning.
func (l *lexer) atLastByte(start int) (token, bool) {
	if start != len(l.src)-1 {
		return token{}, false
	}
	l.warnings = append(l.warnings, fmt.Sprintf("line %d: xl silently ignores the last character %q of the file", l.line, l.src[start:]))
	l.pos = len(l.src)
	return token{kind: tEOF, line: l.line, pos: start, end: start}, true
}

func (l *lexer) lexErr(format string, a ...any) error {
	return &SyntaxError{l.line, fmt.Sprintf(format, a...)}
}

// next scans one token. It is one piece on purpose: a dispatch on the
// next byte, rule for rule as libxlu_cfg_l.l's flex rules, reads best as
// one switch.
func (l *lexer) next() (token, error) {
	s := l.src
	for l.pos < len(s) && (s[l.pos] == ' ' || s[l.pos] == '\t') {
		l.pos++
	}
	start := l.pos
	tok := func(k tokKind, end int) (token, error) {
		t := token{kind: k, text: s[start:end], line: l.line, pos: start, end: end}
		l.pos = end
		return t, nil
	}
	if start >= len(s) {
		return token{kind: tEOF, line: l.line, pos: start, end: start}, nil
	}
	c := s[start]
	switch {
	case c == '\n':
		t, _ := tok(tNewline, start+1)
		l.line++
		return t, nil
	case c == '#':
		nl := strings.IndexByte(s[start:], '\n')
		if t, ok := l.atLastByte(start); ok && nl < 0 {
			return t, nil
		}
		if nl < 0 {
			return token{}, l.lexErr("a comment must end with a newline (libxlutil refuses a last line that is a comment without one)")
		}
		t, _ := tok(tNewline, start+nl+1)
		l.line++
		return t, nil
	case c >= 'a' && c <= 'z':
		e := start + 1
		for e < len(s) && (s[e] >= 'a' && s[e] <= 'z' || s[e] >= '0' && s[e] <= '9' || s[e] == '_' || s[e] == '.') {
			e++
		}
		return tok(tIdent, e)
	case c >= '0' && c <= '9':
		e := start + 1
		for e < len(s) && (s[e] >= '0' && s[e] <= '9' || s[e] >= 'a' && s[e] <= 'f' || s[e] == 'x') {
			e++
		}
		return tok(tNumber, e)
	case c == '"' || c == '\'':
		if t, ok := l.atLastByte(start); ok {
			return t, nil
		}
		e := start + 1
		for {
			if e >= len(s) || s[e] == '\n' {
				return token{}, l.lexErr("unterminated string %s", s[start:e])
			}
			if s[e] == c {
				break
			}
			if s[e] == '\\' {
				if e+1 >= len(s) || s[e+1] == '\n' {
					return token{}, l.lexErr("unterminated string %s", s[start:e+1])
				}
				e++
			}
			e++
		}
		text, err := dequote(s[start+1 : e])
		if err != nil {
			return token{}, l.lexErr("%s in %s", err, s[start:e+1])
		}
		t, _ := tok(tString, e+1)
		t.text = text
		return t, nil
	case c == '=':
		return tok(tAssign, start+1)
	case c == '+' && start+1 < len(s) && s[start+1] == '=':
		return tok(tAppend, start+2)
	case c == ';':
		return tok(tSemi, start+1)
	case c == ',':
		return tok(tComma, start+1)
	case c == '[':
		return tok(tLBracket, start+1)
	case c == ']':
		return tok(tRBracket, start+1)
	}
	if t, ok := l.atLastByte(start); ok {
		return t, nil
	}
	end := start
	for end < len(s) && s[end] != ' ' && s[end] != '\t' && s[end] != '\n' {
		end++
	}
	hint := ""
	if c >= 'A' && c <= 'Z' || c == '_' {
		hint = " (setting names are lower case)"
	} else if c == '\r' {
		hint = " (the file has DOS line endings: convert it with dos2unix)"
	}
	return token{}, l.lexErr("unexpected %q%s", s[start:end], hint)
}

// dequote undoes escapes as libxlutil 4.17's xlu__cfgl_dequote does,
// including its two defects: a "\x" escape can never succeed (it skips a
// character, then wants more digits than it reads), and a numeric escape
// "\NNN" consumes its digits but never stores the character.
func dequote(in string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(in); {
		c := in[i]
		i++
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		nc := in[i]
		i++
		switch nc {
		case '"', '\'', '\\':
			b.WriteByte(nc)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x':
			return "", errors.New("\\x escapes are broken in xl " + xl.ParserQuirksIn + " and always rejected")
		default:
			if nc < '0' || nc > '7' {
				return "", fmt.Errorf("invalid character %q after backslash", nc)
			}
			// strtoul(next up to 3 chars, base 10) must consume at
			// least 2 of them; the value is dropped.
			n := consumedByStrtoul(in[i:min(i+3, len(in))])
			if n <= 1 {
				return "", errors.New("invalid digits after a backslash numeric escape")
			}
			i += n
		}
	}
	return b.String(), nil
}

// consumedByStrtoul is how many bytes strtoul(s, &ep, 10) consumes: white
// space, a sign, then decimal digits (0 when there are no digits).
func consumedByStrtoul(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	d := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == d {
		return 0
	}
	return i
}
