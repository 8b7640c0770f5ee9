package camera

import (
	"os"
	"path/filepath"
	"testing"
)

func TestList(t *testing.T) {
	root := t.TempDir()
	add := func(node, name string) {
		d := filepath.Join(root, "sys", "class", "video4linux", node)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "name"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add("video10", "OBS Virtual Camera")
	add("video2", "HD Pro Webcam C920")
	add("vbi0", "not a camera node")

	got, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Index: 2, Path: "/dev/video2", Name: "HD Pro Webcam C920"},
		{Index: 10, Path: "/dev/video10", Name: "OBS Virtual Camera", VirtualHint: true},
	}
	if len(got) != len(want) {
		t.Fatalf("List = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("device %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	empty, err := List(t.TempDir())
	if err != nil || len(empty) != 0 {
		t.Fatalf("List(no sysfs) = %v, %v; want empty, nil", empty, err)
	}
}
