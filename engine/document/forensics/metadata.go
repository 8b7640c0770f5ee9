package forensics

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// Scores of the metadata check. An editor's name is strong evidence that
// the file was re-saved by a person (not proof of a forgery); a
// modification time that differs from the capture time is a weaker hint.
const (
	editorScore   = 0.1
	modifiedScore = 0.6
)

// metadata is what the files say about the software that wrote them.
type metadata struct {
	software         []string // EXIF Software, XMP CreatorTool/softwareAgent, PNG Software, comments
	make, model      string
	modified, taken  string
	photoshopBlocks  bool
	segmentsExamined int
}

func metadataCheck(raw []byte, jpg jpegInfo, jpgErr error, opts Options) Check {
	var md metadata
	switch {
	case jpgErr == nil:
		md = jpegMetadata(jpg)
	case bytes.HasPrefix(raw, pngSignature):
		md = pngMetadata(raw)
	case errors.Is(jpgErr, ErrNotJPEG):
		return notApplicable(CheckMetadata, "neither JPEG nor PNG")
	default:
		return notApplicable(CheckMetadata, jpgErr.Error())
	}
	c := Check{Name: CheckMetadata, Score: 1, Applicable: true, Evidence: map[string]any{
		"software": md.software, "segments": md.segmentsExamined,
	}}
	for k, v := range map[string]string{"camera_make": md.make, "camera_model": md.model, "modified": md.modified, "taken": md.taken} {
		if v != "" {
			c.Evidence[k] = v
		}
	}
	if md.modified != "" && md.taken != "" && md.modified != md.taken {
		c.Score = modifiedScore
		c.Evidence["modified_after_capture"] = true
	}
	var editors []string
	for _, s := range md.software {
		if isEditor(s, opts.Editors) {
			editors = append(editors, s)
		}
	}
	if md.photoshopBlocks {
		editors = append(editors, "Adobe Photoshop (APP13 image resource block)")
	}
	if len(editors) > 0 {
		c.Score = editorScore
		c.Evidence["editors"] = editors
	}
	return c
}

var (
	exifHeader   = []byte("Exif\x00\x00")
	xmpHeader    = []byte("http://ns.adobe.com/xap/1.0/\x00")
	photoshopIRB = []byte("Photoshop 3.0\x00")
	pngSignature = []byte("\x89PNG\r\n\x1a\n")
)

// Bounds on what a hostile file can make the parser do or report.
const (
	maxIFDEntries  = 512
	maxStringBytes = 256
)

func jpegMetadata(jpg jpegInfo) metadata {
	var md metadata
	for _, s := range jpg.segments {
		md.segmentsExamined++
		switch {
		case s.marker == 0xE1 && bytes.HasPrefix(s.data, exifHeader):
			md.readExif(s.data[len(exifHeader):])
		case s.marker == 0xE1 && bytes.HasPrefix(s.data, xmpHeader):
			md.software = append(md.software, xmpTools(s.data[len(xmpHeader):])...)
		case s.marker == 0xED && bytes.HasPrefix(s.data, photoshopIRB):
			md.photoshopBlocks = true
		case s.marker == 0xFE:
			if t := printable(s.data); t != "" {
				md.software = append(md.software, t)
			}
		}
	}
	return md
}

// readExif reads IFD0 (Software, Make, Model, DateTime) and the Exif
// sub-IFD (DateTimeOriginal) of a TIFF structure. Bad offsets end the walk
// quietly: the check reports what it could read.
func (md *metadata) readExif(t []byte) {
	if len(t) < 8 {
		return
	}
	bo := tiffByteOrder(t)
	if bo == nil {
		return
	}
	ifd0 := int(bo.Uint32(t[4:]))
	exifIFD := 0
	md.walkIFD(t, bo, ifd0, func(tag uint16, s string, off int) {
		switch tag {
		case 0x0131:
			md.software = append(md.software, s)
		case 0x010F:
			md.make = s
		case 0x0110:
			md.model = s
		case 0x0132:
			md.modified = s
		case 0x8769:
			exifIFD = off
		}
	})
	if exifIFD > 0 {
		md.walkIFD(t, bo, exifIFD, func(tag uint16, s string, _ int) {
			if tag == 0x9003 {
				md.taken = s
			}
		})
	}
}

// walkIFD calls fn for each entry of the IFD at off with its ASCII value
// (for type 2) or its SHORT or LONG value (for type 3 or 4, count 1).
func (md *metadata) walkIFD(t []byte, bo binary.ByteOrder, off int, fn func(tag uint16, s string, long int)) {
	if off < 8 || off+2 > len(t) {
		return
	}
	n := int(bo.Uint16(t[off:]))
	if n > maxIFDEntries {
		return
	}
	for i := 0; i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return
		}
		tag, typ, count := bo.Uint16(t[e:]), bo.Uint16(t[e+2:]), int(bo.Uint32(t[e+4:]))
		switch {
		case typ == 2 && count > 0:
			var v []byte
			if count <= 4 {
				v = t[e+8 : e+8+count]
			} else if p := int(bo.Uint32(t[e+8:])); p >= 0 && count <= len(t) && p <= len(t)-count {
				v = t[p : p+count]
			}
			fn(tag, printable(v), 0)
		case typ == 3 && count == 1:
			fn(tag, "", int(bo.Uint16(t[e+8:])))
		case typ == 4 && count == 1:
			fn(tag, "", int(bo.Uint32(t[e+8:])))
		}
	}
}

// xmpTools returns the CreatorTool and history softwareAgent values of an
// XMP packet, written either as attributes or as elements.
func xmpTools(x []byte) []string {
	var out []string
	s := string(x)
	for _, name := range []string{"CreatorTool", "softwareAgent"} {
		for rest := s; ; {
			i := strings.Index(rest, name)
			if i < 0 {
				break
			}
			rest = rest[i+len(name):]
			var v string
			switch {
			case strings.HasPrefix(rest, `="`):
				v, _, _ = strings.Cut(rest[2:], `"`)
			case strings.HasPrefix(rest, ">"):
				v, _, _ = strings.Cut(rest[1:], "<")
			default:
				continue
			}
			if v = printable([]byte(v)); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// pngMetadata reads Software text chunks and embedded XMP.
func pngMetadata(raw []byte) metadata {
	var md metadata
	for p := len(pngSignature); p+12 <= len(raw); {
		n := int(binary.BigEndian.Uint32(raw[p:]))
		typ := string(raw[p+4 : p+8])
		if n < 0 || n > len(raw)-p-12 {
			return md
		}
		data := raw[p+8 : p+8+n]
		p += 12 + n
		if typ != "tEXt" && typ != "iTXt" {
			if typ == "IEND" {
				return md
			}
			continue
		}
		md.segmentsExamined++
		key, val, ok := bytes.Cut(data, []byte{0})
		if !ok {
			continue
		}
		if typ == "iTXt" {
			// compression flag, method, language tag\0, translated key\0
			if len(val) < 2 || val[0] != 0 {
				continue // compressed iTXt: not worth a zlib reader here
			}
			parts := bytes.SplitN(val[2:], []byte{0}, 3)
			if len(parts) < 3 {
				continue
			}
			val = parts[2]
		}
		switch string(key) {
		case "Software":
			md.software = append(md.software, printable(val))
		case "XML:com.adobe.xmp":
			md.software = append(md.software, xmpTools(val)...)
		}
	}
	return md
}

// printable trims a metadata string at its NUL and drops control bytes,
// bounding its length so a hostile file cannot bloat the report.
func printable(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > maxStringBytes {
		b = b[:maxStringBytes]
	}
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7F || r == 0xFFFD {
			return -1
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}

// tiffByteOrder is the byte order a TIFF structure's header names ("II"
// little-endian, "MM" big-endian), nil for neither.
func tiffByteOrder(t []byte) binary.ByteOrder {
	switch {
	case len(t) < 2:
		return nil
	case string(t[:2]) == "II":
		return binary.LittleEndian
	case string(t[:2]) == "MM":
		return binary.BigEndian
	}
	return nil
}
