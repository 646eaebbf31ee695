package managerdata

import (
	"hash/maphash"
	"math/bits"
	"strings"
)

// strList is strings numbered 0..n-1 and stored end to end in one string: two allocations
// however many strings it holds, so that what the index keeps never pins heap spans shared
// with the garbage of the JSON parse (40,000 node-type strings and a map of them did: the
// agent's idle RSS was twice the index's live heap).
type strList struct {
	blob string
	ends []uint32 // string i is blob[ends[i-1]:ends[i]], with ends[-1] read as 0
}

// newStrList packs strs, duplicates and all.
func newStrList(strs []string) strList {
	if len(strs) == 0 {
		return strList{}
	}
	size := 0
	for _, s := range strs {
		size += len(s)
	}
	var blob strings.Builder
	blob.Grow(size)
	l := strList{ends: make([]uint32, len(strs))}
	for i, s := range strs {
		blob.WriteString(s)
		l.ends[i] = uint32(blob.Len())
	}
	l.blob = blob.String()
	return l
}

// Len is the number of strings.
func (l *strList) Len() int { return len(l.ends) }

// str is string i, a slice of the blob.
func (l *strList) str(i int) string {
	start := uint32(0)
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.blob[start:l.ends[i]]
}

// strTable is a strList of distinct strings with a hash table of their numbers. A lookup costs
// one hash and, thanks to the hash bits kept beside each number, rarely a failed comparison.
type strTable struct {
	strList
	// slots is an open-addressing (linear probing) table, its length a power of two: each used
	// slot holds the string's number + 1 in the low idBits and high bits of its hash above them.
	slots  []uint32
	idBits uint
	seed   maphash.Seed
}

// find returns the number of s, or -1 when the table lacks it.
func (t *strTable) find(s string) int {
	if len(t.slots) == 0 {
		return -1
	}
	h := maphash.String(t.seed, s)
	idMask := uint32(1)<<t.idBits - 1
	tag := uint32(h>>32) &^ idMask
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := t.slots[i]
		if v == 0 {
			return -1
		}
		if v&^idMask == tag {
			if id := int(v&idMask) - 1; t.str(id) == s {
				return id
			}
		}
	}
}

// strBuilder numbers distinct strings in the order they are first added; list or table packs
// them, after which the builder is dropped.
type strBuilder struct {
	ids  map[string]int
	strs []string
}

func newStrBuilder() *strBuilder { return &strBuilder{ids: map[string]int{}} }

// add returns the number of s, adding it when new.
func (b *strBuilder) add(s string) int {
	if id, ok := b.ids[s]; ok {
		return id
	}
	id := len(b.strs)
	b.ids[s] = id
	b.strs = append(b.strs, s)
	return id
}

// Len is the number of distinct strings added.
func (b *strBuilder) Len() int { return len(b.strs) }

// list packs the strings, without lookup.
func (b *strBuilder) list() strList { return newStrList(b.strs) }

// table packs the strings with their lookup table.
func (b *strBuilder) table() strTable {
	n := len(b.strs)
	t := strTable{strList: b.list()}
	if n == 0 {
		return t
	}
	t.idBits, t.seed = uint(bits.Len(uint(n))), maphash.MakeSeed()
	// At most 2/3 full, so that a miss ends at a free slot after a few probes.
	t.slots = make([]uint32, 1<<bits.Len(uint(n+n/2)))
	tagMask := ^(uint32(1)<<t.idBits - 1)
	mask := uint64(len(t.slots) - 1)
	for id := range n {
		h := maphash.String(t.seed, t.str(id))
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint32(h>>32)&tagMask | uint32(id+1)
	}
	return t
}

// strs returns the strings of l as one slice (slices of its blob), for lookups that answer
// with a []string without allocating.
func (l *strList) strs() []string {
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.str(i)
	}
	return out
}
