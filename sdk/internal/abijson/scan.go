package abijson

import "math/bits"

// Inside a wasip1 guest under wazero with close-on-context-done, every taken branch of Go's
// wasm output re-enters its function's dispatch loop, and every loop header costs an exit to
// the host: a byte-at-a-time loop costs ~100 ns a byte. These helpers look at 8 bytes per
// iteration with word arithmetic instead (SWAR), so a run of plain characters costs one
// iteration per 8 bytes.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroBytes flags (msb) the zero bytes of x; the lowest flag is exact, flags above it may not
// be (borrows), which is all the scanners need: they want the first byte.
func zeroBytes(x uint64) uint64 { return (x - lsb) &^ x & msb }

// decodeStops flags the bytes a JSON string decoder must look at: '"', '\\', controls and
// non-ASCII.
func decodeStops(w uint64) uint64 {
	return w&msb | zeroBytes(w^(lsb*'"')) | zeroBytes(w^(lsb*'\\')) | (w-lsb*0x20)&^w&msb
}

// encodeStops adds what encoding/json escapes for HTML: '<', '>' and '&'.
func encodeStops(w uint64) uint64 {
	return decodeStops(w) | zeroBytes(w^(lsb*'<')) | zeroBytes(w^(lsb*'>')) | zeroBytes(w^(lsb*'&'))
}

func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// tail loads the last 8 bytes of s (len(s) >= 8) with those before i replaced by a plain
// byte, so none of them can flag (or, by a borrow, fake a flag above it).
func tail(s string, i int) uint64 {
	j := len(s) - 8
	keep := ^uint64(0) << (8 * (i - j))
	return load64(s, j)&keep | lsb*'a'&^keep
}

func isDecodeStop(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }

func isEncodeStop(c byte) bool { return isDecodeStop(c) || c == '<' || c == '>' || c == '&' }

// scanDecode returns the index of the first byte of s at or after i that decodeStops flags,
// or len(s).
func scanDecode(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := decodeStops(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i >= len(s) {
		return len(s)
	}
	if len(s) >= 8 { // the tail: the last 8 bytes, less those already seen
		j := len(s) - 8
		if m := decodeStops(tail(s, i)); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if isDecodeStop(s[i]) {
			return i
		}
	}
	return len(s)
}

// scanEncode is scanDecode for encodeStops.
func scanEncode(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := encodeStops(load64(s, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i >= len(s) {
		return len(s)
	}
	if len(s) >= 8 {
		j := len(s) - 8
		if m := encodeStops(tail(s, i)); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if isEncodeStop(s[i]) {
			return i
		}
	}
	return len(s)
}
