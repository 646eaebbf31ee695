package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Socket.IO v5 packet types (carried inside Engine.IO message packets).
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// sioPacket is a decoded Socket.IO packet: <type>[<#attachments>-][<nsp>,][<ackId>][<JSON>].
type sioPacket struct {
	typ   byte
	nsp   string // "/" when omitted
	ackID int64  // noAck when absent
	data  json.RawMessage
}

var errBadPacket = errors.New("malformed Socket.IO packet")

// decodeSIO parses one Socket.IO packet. Binary packets are decoded far enough to be refused.
func decodeSIO(s string) (sioPacket, error) {
	p := sioPacket{nsp: "/", ackID: noAck}
	if s == "" || s[0] < sioConnect || s[0] > sioBinaryAck {
		return p, fmt.Errorf("%w: unknown packet type", errBadPacket)
	}
	p.typ = s[0]
	i := 1
	if p.typ == sioBinaryEvent || p.typ == sioBinaryAck {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j >= len(s) || s[j] != '-' {
			return p, fmt.Errorf("%w: bad attachment count", errBadPacket)
		}
		i = j + 1
	}
	if i < len(s) && s[i] == '/' {
		j := i
		for j < len(s) && s[j] != ',' {
			j++
		}
		p.nsp = s[i:j]
		if j < len(s) {
			j++ // the comma; a namespace may also end the packet ("41/admin")
		}
		i = j
	}
	if j := i; j < len(s) && s[j] >= '0' && s[j] <= '9' {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		id, err := strconv.ParseInt(s[i:j], 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: bad ack id", errBadPacket)
		}
		p.ackID = id
		i = j
	}
	if i < len(s) {
		if !json.Valid([]byte(s[i:])) {
			return p, fmt.Errorf("%w: payload is not JSON", errBadPacket)
		}
		p.data = json.RawMessage(s[i:])
	}
	switch p.typ {
	case sioEvent, sioAck, sioBinaryEvent, sioBinaryAck:
		if len(p.data) == 0 || p.data[0] != '[' {
			return p, fmt.Errorf("%w: payload must be an array", errBadPacket)
		}
	case sioConnect:
		if len(p.data) > 0 && p.data[0] != '{' {
			return p, fmt.Errorf("%w: CONNECT payload must be an object", errBadPacket)
		}
	}
	return p, nil
}

// eventArgs splits an EVENT payload into the event name and its first argument.
func eventArgs(data json.RawMessage) (string, json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil || len(args) == 0 {
		return "", nil, fmt.Errorf("%w: EVENT needs [name, ...args]", errBadPacket)
	}
	var name string
	if err := json.Unmarshal(args[0], &name); err != nil {
		return "", nil, fmt.Errorf("%w: event name must be a string", errBadPacket)
	}
	if len(args) > 1 {
		return name, args[1], nil
	}
	return name, nil, nil
}

// encodeSIO frames a server-to-client Socket.IO packet inside an Engine.IO message ("4").
func encodeSIO(typ byte, nsp string, data any) []byte {
	b := []byte{'4', typ}
	if nsp != "/" && nsp != "" {
		b = append(b, nsp...)
		b = append(b, ',')
	}
	if data != nil {
		raw, err := json.Marshal(data)
		if err == nil {
			b = append(b, raw...)
		}
	}
	return b
}
