package device

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dmiFiles are the SMBIOS strings a hypervisor fills with its own name.
var dmiFiles = []string{"sys_vendor", "product_name", "board_vendor", "bios_vendor"}

// vmMarkers are lower-case substrings of DMI strings that only virtual
// hardware carries. "Microsoft Corporation" alone is not one (Surface
// laptops); Hyper-V guests are caught by their "Virtual Machine" product.
var vmMarkers = []string{
	"qemu", "kvm", "vmware", "virtualbox", "innotek", "xen", "hyper-v",
	"virtual machine", "parallels", "bochs", "bhyve", "openstack",
	"amazon ec2", "google compute engine", "apple virtualization", "cloud hypervisor",
}

// vmPCIVendors are PCI vendor ids of emulated or paravirtual devices.
var vmPCIVendors = map[string]string{
	"0x1af4": "Red Hat virtio",
	"0x1b36": "Red Hat QEMU",
	"0x1234": "QEMU/Bochs display",
	"0x15ad": "VMware",
	"0x80ee": "VirtualBox",
	"0x5853": "XenSource",
	"0x1ab8": "Parallels",
}

// checkVirtualMachine looks for a hypervisor in the CPU, the firmware tables
// and the device tree: emulators are how injection attacks run at scale.
func checkVirtualMachine(_ context.Context, e env) Result {
	r := newResult(CheckVirtualMachine, SeverityHigh)

	// CPUID describes the CPU running this code, which is only the system
	// under inspection when Root is the live root.
	if e.root != "/" {
		r.Evidence["cpuid"] = "not consulted: root is " + e.root
	} else if present, vendor, ok := hypervisorCPUID(); !ok {
		r.Evidence["cpuid"] = "unavailable on this architecture"
	} else if present {
		r.Flag(StatusFail, "cpuid", "hypervisor bit set, vendor "+quoteOrNone(vendor))
	} else {
		r.Evidence["cpuid"] = "hypervisor bit clear"
	}

	if b, err := e.readFile("proc/cpuinfo"); err != nil {
		r.Evidence["cpuinfo"] = "unreadable: " + err.Error()
	} else if cpuinfoHypervisor(string(b)) {
		r.Flag(StatusFail, "cpuinfo", "hypervisor flag present")
	} else {
		r.Evidence["cpuinfo"] = "hypervisor flag absent"
	}

	for _, f := range dmiFiles {
		v, err := e.readLine(filepath.Join("sys/class/dmi/id", f))
		if err != nil || v == "" {
			continue
		}
		if matchMarker(v, vmMarkers) != "" {
			r.Flag(StatusFail, "dmi."+f, v)
		}
	}

	if t, err := e.readLine("sys/hypervisor/type"); err == nil && t != "" {
		r.Flag(StatusFail, "sys_hypervisor_type", t)
	}
	if _, err := os.Stat(e.path("proc/xen")); err == nil {
		r.Flag(StatusFail, "proc_xen", "present")
	}
	if ents, err := os.ReadDir(e.path("sys/bus/vmbus/devices")); err == nil && len(ents) > 0 {
		r.Flag(StatusFail, "vmbus", "Hyper-V VMBus devices present")
	}
	pci, _ := os.ReadDir(e.path("sys/bus/pci/devices")) // no PCI bus is not a finding
	for _, d := range pci {
		v, err := e.readLine(filepath.Join("sys/bus/pci/devices", d.Name(), "vendor"))
		if err != nil {
			continue
		}
		if name, ok := vmPCIVendors[strings.ToLower(v)]; ok {
			r.Flag(StatusFail, "pci."+d.Name(), v+" "+name)
		}
	}
	return r
}

func cpuinfoHypervisor(cpuinfo string) bool {
	for line := range strings.Lines(cpuinfo) {
		key, val, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "flags" && slices.Contains(strings.Fields(val), "hypervisor") {
			return true
		}
	}
	return false
}

// matchMarker returns the first marker found in s, case-insensitively.
func matchMarker(s string, markers []string) string {
	ls := strings.ToLower(s)
	for _, m := range markers {
		if strings.Contains(ls, m) {
			return m
		}
	}
	return ""
}

func quoteOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return `"` + s + `"`
}
