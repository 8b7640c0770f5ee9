//go:build amd64

package device

import (
	"encoding/binary"
	"strings"
)

// cpuid executes the CPUID instruction (cpuid_amd64.s).
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// hypervisorCPUID reports CPUID leaf 1 ECX bit 31, which hypervisors set for
// their guests, and the vendor signature of leaf 0x40000000 when it is set.
// ok is false where CPUID is unavailable.
func hypervisorCPUID() (present bool, vendor string, ok bool) {
	_, _, ecx, _ := cpuid(1, 0)
	if ecx&(1<<31) == 0 {
		return false, "", true
	}
	_, ebx, ecx, edx := cpuid(0x40000000, 0)
	sig := make([]byte, 12)
	binary.LittleEndian.PutUint32(sig[0:], ebx)
	binary.LittleEndian.PutUint32(sig[4:], ecx)
	binary.LittleEndian.PutUint32(sig[8:], edx)
	return true, strings.TrimRight(string(sig), "\x00 "), true
}
