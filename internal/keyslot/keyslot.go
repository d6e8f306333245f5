// Package keyslot computes Redis Cluster hash slots.
package keyslot

import "strings"

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Of returns the hash slot of key: CRC16 (XMODEM) of the key, or of its
// hash tag (the text between the first "{" and the next "}", if not
// empty), modulo 16384.
func Of(key string) uint16 {
	if tag, ok := Tag(key); ok {
		key = tag
	}
	return crc16(key) % Slots
}

// Tag returns key's hash tag, the text between the first "{" and the
// next "}", and whether it has one (an empty "{}" is none).
func Tag(key string) (string, bool) {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			return key[open+1 : open+1+n], true
		}
	}
	return "", false
}

// Same reports whether all keys hash to one slot, which Redis Cluster
// requires of the keys of a transaction or script.
func Same(keys ...string) bool {
	for i := 1; i < len(keys); i++ {
		if Of(keys[i]) != Of(keys[0]) {
			return false
		}
	}
	return true
}

// crc16 is CRC-16/XMODEM: polynomial 0x1021, initial value 0, no
// reflection, as the cluster specification defines it.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
