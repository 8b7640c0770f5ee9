// Package runtimeinfo loads the native libraries the engine needs and
// reports their versions as actually loaded, for `kyc version` and the
// desktop app's home screen alike; it also holds the Go collector's
// setting of the binaries that run the engines (TuneGC).
package runtimeinfo

import (
	"runtime"
	"runtime/debug"

	"gocv.io/x/gocv"

	"github.com/openkyc/kyc/engine/ort"
	"github.com/openkyc/kyc/models"
)

// Versions are the product's and its native libraries' versions.
type Versions struct {
	Version     string `json:"version"`
	Commit      string `json:"commit,omitempty"`
	Go          string `json:"go"`
	ONNXRuntime string `json:"onnxruntime"`
	ORTLibrary  string `json:"onnxruntime_library"`
	OpenCV      string `json:"opencv"`
	GoCV        string `json:"gocv"`
}

// LoadRuntime initialises ONNX Runtime from the store's verified library.
func LoadRuntime(store *models.Store) error {
	lib, err := store.RuntimeLibrary()
	if err != nil {
		return err
	}
	tuneMalloc()
	return ort.Init(lib)
}

// Read loads ONNX Runtime and reports every version; on a load error the
// versions known so far are returned with it.
func Read(version string, store *models.Store) (Versions, error) {
	v := Versions{Version: version, Go: runtime.Version(), OpenCV: gocv.OpenCVVersion(), GoCV: gocv.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if err := LoadRuntime(store); err != nil {
		return v, err
	}
	v.ONNXRuntime, v.ORTLibrary = ort.Version(), ort.LibraryPath()
	return v, nil
}
