package abijson

import "testing"

// TestScanners compares the word-at-a-time scanners with a byte loop at every start offset.
func TestScanners(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "a", "abcdefg", "abcdefgh", "abcdefghi", `0123456789abcdef"`, "\x00", "é", "ab\\cd",
		"plain text without stops at all, long enough", "<tag>", "a&b", "x\x1fy", "\x7f\x20\x21", "\xff", "aaaaaaa\"", "aaaaaaaa\"", "aaaaaaaaa\\"}
	for _, s := range inputs {
		for i := 0; i <= len(s); i++ {
			want := len(s)
			for j := i; j < len(s); j++ {
				if isDecodeStop(s[j]) {
					want = j
					break
				}
			}
			if got := scanDecode(s, i); got != want {
				t.Errorf("scanDecode(%q, %d) = %d, want %d", s, i, got, want)
			}
			want = len(s)
			for j := i; j < len(s); j++ {
				if isEncodeStop(s[j]) {
					want = j
					break
				}
			}
			if got := scanEncode(s, i); got != want {
				t.Errorf("scanEncode(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
}

func FuzzScanners(f *testing.F) {
	f.Add("plain <text> & \"quotes\" \\ é \x01", 3)
	f.Fuzz(func(t *testing.T, s string, i int) {
		if i < 0 || i > len(s) {
			return
		}
		want := len(s)
		for j := i; j < len(s); j++ {
			if isEncodeStop(s[j]) {
				want = j
				break
			}
		}
		if got := scanEncode(s, i); got != want {
			t.Fatalf("scanEncode(%q, %d) = %d, want %d", s, i, got, want)
		}
		want = len(s)
		for j := i; j < len(s); j++ {
			if isDecodeStop(s[j]) {
				want = j
				break
			}
		}
		if got := scanDecode(s, i); got != want {
			t.Fatalf("scanDecode(%q, %d) = %d, want %d", s, i, got, want)
		}
	})
}
