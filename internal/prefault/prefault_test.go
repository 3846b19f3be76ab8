package prefault

import "testing"

func TestMake(t *testing.T) {
	for _, n := range []int{0, 1, 100, 5000} {
		s := Make[[3]int](n)
		if len(s) != n {
			t.Fatalf("Make(%d): len %d", n, len(s))
		}
		for i := range s {
			if s[i] != [3]int{} {
				t.Fatalf("Make(%d)[%d] = %v, want zero", n, i, s[i])
			}
			s[i][2] = i
		}
	}
}

func TestBytesKeepsContents(t *testing.T) {
	b := make([]byte, 3*page+123)
	for i := range b {
		b[i] = byte(i)
	}
	Bytes(b[7:])
	for i := range b {
		if b[i] != byte(i) {
			t.Fatalf("byte %d changed to %d", i, b[i])
		}
	}
}
