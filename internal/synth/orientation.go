package synth

// WithOrientation returns the JPEG jpg with an EXIF orientation tag o
// (1 to 8) in an APP1 segment right after its start-of-image marker, as a
// camera writes when it saves its sensor's pixels and says how to turn
// them: decoders that honour it (OpenCV, browsers) show the picture turned.
func WithOrientation(jpg []byte, o int) []byte {
	// Big-endian TIFF: IFD0 at 8 with one entry, tag 0x0112 SHORT count 1.
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(o), 0, 0, 0, 0, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiff...)
	n := len(seg) + 2
	out := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte(n >> 8), byte(n)}, seg...)
	return append(out, jpg[2:]...)
}
