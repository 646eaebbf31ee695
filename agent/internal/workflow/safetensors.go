package workflow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// TensorStats summarises a safetensors file from its header alone.
type TensorStats struct {
	// Bytes per dtype ("F32", "BF16", "F16", "F8_E4M3", ...), from the tensors' data offsets.
	Bytes map[string]int64
	Total int64
}

// Dominant returns the dtype holding most bytes.
func (s TensorStats) Dominant() string {
	best, n := "", int64(-1)
	for k, v := range s.Bytes {
		if v > n || (v == n && k < best) {
			best, n = k, v
		}
	}
	return best
}

// maxHeader bounds the JSON header read (real headers are a few MB at most).
const maxHeader = 100 << 20

// ReadSafetensorsHeader reads only the header of a .safetensors file: an 8-byte little-endian
// length, then a JSON object of tensor name -> {dtype, shape, data_offsets}.
func ReadSafetensorsHeader(path string) (TensorStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return TensorStats{}, err
	}
	defer f.Close()
	return parseSafetensorsHeader(f)
}

func parseSafetensorsHeader(r io.Reader) (TensorStats, error) {
	var n uint64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return TensorStats{}, fmt.Errorf("read safetensors header length: %w", err)
	}
	if n == 0 || n > maxHeader {
		return TensorStats{}, fmt.Errorf("safetensors header length %d out of range", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return TensorStats{}, fmt.Errorf("read safetensors header: %w", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(buf, &h); err != nil {
		return TensorStats{}, fmt.Errorf("parse safetensors header: %w", err)
	}
	st := TensorStats{Bytes: map[string]int64{}}
	for name, raw := range h {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			DType   string  `json:"dtype"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &t); err != nil || len(t.Offsets) != 2 || t.Offsets[1] < t.Offsets[0] {
			continue
		}
		sz := t.Offsets[1] - t.Offsets[0]
		st.Bytes[t.DType] += sz
		st.Total += sz
	}
	return st, nil
}
