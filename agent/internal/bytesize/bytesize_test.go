package bytesize

import "testing"

func TestFormat(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0.00 B", 1023: "1023.00 B", 1536: "1.50 KB", 3 << 30: "3.00 GB", 5 << 50: "5.00 PB"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
