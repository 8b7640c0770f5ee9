package runtimeinfo

// #include <malloc.h>
import "C"

import (
	"runtime/debug"

	"github.com/openkyc/kyc/engine/ort"
)

// The models' tensors live in native memory that glibc's malloc hands out.
// By default it keeps up to eight arenas a core, one per thread that
// allocated concurrently (ONNX Runtime's and cgo's), each holding on to
// what was freed in it; and after a large block (an image's tensor) is
// freed, it raises its threshold for serving blocks by mmap to that size,
// so the next ones come from the arenas and stay resident after they are
// freed too. Two arenas and a fixed mmap threshold give large blocks back
// to the system when freed: `kyc document` and the app's engines hold
// about a hundred MB less (internal/engines' TestMemory).
const (
	mallocArenas = 2
	// mmapThreshold is glibc's default starting threshold; fixing it turns
	// off the raising.
	mmapThreshold = 128 << 10
)

// tuneMalloc applies the arena and mmap settings; it must run before the
// engines allocate, and is harmless to repeat.
func tuneMalloc() {
	C.mallopt(C.M_ARENA_MAX, mallocArenas)
	C.mallopt(C.M_MMAP_THRESHOLD, mmapThreshold)
}

// ReleaseNativeMemory returns the native heap's free pages to the system:
// ONNX Runtime's arena's free chunks (ort.ReleaseMemory), then glibc's
// (malloc_trim). After the models are loaded and warmed, what their
// loading freed need not stay resident.
func ReleaseNativeMemory() {
	// An error leaves the arena as it was: memory held, nothing broken.
	_ = ort.ReleaseMemory()
	C.malloc_trim(0)
}

// ReleaseMemory returns both heaps' free pages to the system: Go's (after a
// collection) and the native one (ReleaseNativeMemory). For the app, after
// warm-up and after each verification: what a verification allocated is
// garbage once it is sealed, and the app then idles until the next
// customer, holding it for nothing. It costs a collection and a walk of the native heap, some
// milliseconds.
func ReleaseMemory() {
	debug.FreeOSMemory()
	ReleaseNativeMemory()
}
