// Package camera finds the local video devices a capture can use. Linux
// names each V4L2 device in sysfs; that name is also how virtual cameras
// (v4l2loopback, OBS) give themselves away.
package camera

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Device is one /dev/videoN node.
type Device struct {
	Index int    `json:"index"`
	Path  string `json:"path"`
	Name  string `json:"name"`
	// VirtualHint is set when the name is one that virtual camera drivers
	// use; the device check decides what that means.
	VirtualHint bool `json:"virtual_hint"`
}

var videoNode = regexp.MustCompile(`^video([0-9]+)$`)

var virtualNames = []string{"v4l2loopback", "dummy video device", "obs virtual", "virtual camera", "manycam", "snap camera", "xsplit", "droidcam"}

// List returns the V4L2 devices under root ("/" on a real system; tests hand
// in a fake tree), sorted by index. A system without video devices gives an
// empty list, not an error.
func List(root string) ([]Device, error) {
	sysDir := filepath.Join(root, "sys", "class", "video4linux")
	entries, err := os.ReadDir(sysDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing cameras in %s: %w", sysDir, err)
	}
	var out []Device
	for _, e := range entries {
		m := videoNode.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		name := e.Name()
		if b, err := os.ReadFile(filepath.Join(sysDir, e.Name(), "name")); err == nil {
			name = strings.TrimSpace(string(b))
		}
		lower := strings.ToLower(name)
		d := Device{Index: idx, Path: filepath.Join("/dev", e.Name()), Name: name}
		for _, v := range virtualNames {
			if strings.Contains(lower, v) {
				d.VirtualHint = true
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}
