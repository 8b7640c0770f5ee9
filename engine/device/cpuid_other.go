//go:build !amd64

package device

// hypervisorCPUID has no CPUID to execute off amd64; the VM check then
// relies on /proc/cpuinfo, DMI and sysfs.
func hypervisorCPUID() (present bool, vendor string, ok bool) { return false, "", false }
