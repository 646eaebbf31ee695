package managerdata

import (
	"hash/maphash"
	"math/bits"
	"slices"
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

// strTable is a strList of distinct strings with a hash index of their numbers.
type strTable struct {
	strList
	index hashIndex
}

// find returns the number of s, or -1 when the table lacks it.
func (t *strTable) find(s string) int {
	return t.index.find(s, func(id int) bool { return t.str(id) == s })
}

// hashIndex finds the number of a key among n keys that it keeps none of: the caller compares
// a candidate number's key with the one looked up. A lookup costs one hash and, thanks to the
// hash bits kept beside each number, rarely a failed comparison.
type hashIndex struct {
	// slots is an open-addressing (linear probing) table, its length a power of two: each used
	// slot holds the key's number + 1 in the low idBits and high bits of its hash above them.
	slots  []uint32
	idBits uint
	seed   maphash.Seed
}

// newHashIndex indexes the n keys key(0..n-1), which must be distinct.
func newHashIndex(n int, key func(int) string) hashIndex {
	if n == 0 {
		return hashIndex{}
	}
	h := hashIndex{idBits: uint(bits.Len(uint(n))), seed: maphash.MakeSeed()}
	// At most 4/5 full: a miss still ends at a free slot within a cache line or two, and the
	// hash bits spare it the key comparisons.
	h.slots = make([]uint32, 1<<bits.Len(uint(n+n/4)))
	tagMask := ^(uint32(1)<<h.idBits - 1)
	mask := uint64(len(h.slots) - 1)
	for id := range n {
		hash := maphash.String(h.seed, key(id))
		i := hash & mask
		for h.slots[i] != 0 {
			i = (i + 1) & mask
		}
		h.slots[i] = uint32(hash>>32)&tagMask | uint32(id+1)
	}
	return h
}

// find returns the number whose key is s, or -1: is(id) reports whether key id is s.
func (h *hashIndex) find(s string, is func(id int) bool) int {
	if len(h.slots) == 0 {
		return -1
	}
	hash := maphash.String(h.seed, s)
	idMask := uint32(1)<<h.idBits - 1
	tag := uint32(hash>>32) &^ idMask
	mask := uint64(len(h.slots) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		v := h.slots[i]
		if v == 0 {
			return -1
		}
		if v&^idMask == tag && is(int(v&idMask)-1) {
			return int(v&idMask) - 1
		}
	}
}

// strBuilder numbers distinct strings in the order they are first added; list or table packs
// them, after which the builder is dropped. It appends each new string to one growing buffer
// and finds it again through an open-addressing table, so adding 40,000 node types leaves a
// few large buffers of garbage, not a map and a string each.
type strBuilder struct {
	blob  []byte
	ends  []uint32
	slots []uint32 // number + 1, 0 when free; a power of two, at most 3/4 full
	seed  maphash.Seed
}

func newStrBuilder() *strBuilder { return &strBuilder{seed: maphash.MakeSeed()} }

// Len is the number of distinct strings added.
func (b *strBuilder) Len() int { return len(b.ends) }

func (b *strBuilder) bytes(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.blob[start:b.ends[i]]
}

// add returns the number of s, adding it when new.
func (b *strBuilder) add(s string) int {
	if (len(b.ends)+1)*4 > len(b.slots)*3 {
		b.grow()
	}
	mask := uint64(len(b.slots) - 1)
	for i := maphash.String(b.seed, s) & mask; ; i = (i + 1) & mask {
		v := b.slots[i]
		if v == 0 {
			b.blob = append(doubled(b.blob, len(s)), s...)
			b.ends = append(doubled(b.ends, 1), uint32(len(b.blob)))
			b.slots[i] = uint32(len(b.ends))
			return len(b.ends) - 1
		}
		if string(b.bytes(int(v-1))) == s {
			return int(v - 1)
		}
	}
}

// doubled is s with room for n more, doubling its capacity when it must grow (append grows
// large slices by a quarter, which would leave four times their size of garbage).
func doubled[E any](s []E, n int) []E {
	if len(s)+n <= cap(s) {
		return s
	}
	return slices.Grow(s, max(len(s)+n, 2*cap(s), 256)-len(s))
}

// grow doubles the table and places every number again.
func (b *strBuilder) grow() {
	b.slots = make([]uint32, max(16, 2*len(b.slots)))
	mask := uint64(len(b.slots) - 1)
	for id := range b.ends {
		i := maphash.Bytes(b.seed, b.bytes(id)) & mask
		for b.slots[i] != 0 {
			i = (i + 1) & mask
		}
		b.slots[i] = uint32(id + 1)
	}
}

// list packs the strings, without lookup.
func (b *strBuilder) list() strList {
	if len(b.ends) == 0 {
		return strList{}
	}
	return strList{blob: string(b.blob), ends: slices.Clone(b.ends)}
}

// table packs the strings with their lookup table.
func (b *strBuilder) table() strTable {
	t := strTable{strList: b.list()}
	t.index = newHashIndex(t.Len(), t.str)
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
